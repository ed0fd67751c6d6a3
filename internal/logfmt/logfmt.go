// Package logfmt is how vxbgp's programs write their logs: the formats
// and levels their config keys take (vxbgpd's logFormat and logLevel,
// vxbgp-cni's), and the slog handler for them.
package logfmt

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Formats.
const (
	Text = "text" // slog's key=value lines
	JSON = "json" // one JSON object a line
)

// CheckFormat reports whether s is a format. The error is the problem
// alone, for the caller to name the key or flag.
func CheckFormat(s string) error {
	if s != Text && s != JSON {
		return fmt.Errorf("must be %s or %s, got %q", Text, JSON, s)
	}
	return nil
}

// ParseLevel parses debug, info, warn (or warning) or error, in any case.
// On error the level is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("must be debug, info, warn or error, got %q", s)
}

// Handler writes records at level and above to w in format (JSON for
// JSON, text for anything else).
func Handler(w io.Writer, format string, level slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == JSON {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
