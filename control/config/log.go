package config

import (
	"log/slog"

	"github.com/vxbgp/vxbgp/internal/logfmt"
)

// Log formats: logFormat and vxbgpd's --log-format.
const (
	LogText = logfmt.Text
	LogJSON = logfmt.JSON

	DefaultLogFormat = LogText
)

// CheckLogFormat reports whether s is a log format. The error is the
// problem alone, for Validate to name the key and vxbgpd the flag.
func CheckLogFormat(s string) error { return logfmt.CheckFormat(s) }

// ParseLevel parses a log level as logLevel takes it: debug, info, warn
// (or warning) or error, in any case.
func ParseLevel(s string) (slog.Level, error) { return logfmt.ParseLevel(s) }

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
