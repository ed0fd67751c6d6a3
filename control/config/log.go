package config

import (
	"fmt"
	"log/slog"
)

// Log formats: logFormat and vxbgpd's --log-format.
const (
	LogText = "text" // slog's key=value lines
	LogJSON = "json" // one JSON object a line

	DefaultLogFormat = LogText
)

// CheckLogFormat reports whether s is a log format. The error is the
// problem alone, for Validate to name the key and vxbgpd the flag.
func CheckLogFormat(s string) error {
	if s != LogText && s != LogJSON {
		return fmt.Errorf("must be %s or %s, got %q", LogText, LogJSON, s)
	}
	return nil
}

// ParseLevel parses a log level as logLevel takes it: debug, info, warn
// (or warning) or error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	l, ok := parseLevel(s)
	if !ok {
		return l, fmt.Errorf("must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// ApplyLog applies the --log-format and --log-level flags: a non-empty
// value overrides the file's. Validate reports a bad value as a problem
// of logFormat or logLevel.
func (c *Config) ApplyLog(format, level string) {
	if format != "" {
		c.LogFormat = format
	}
	if level != "" {
		c.LogLevel = level
	}
}
