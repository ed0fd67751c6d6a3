package config

import (
	"log/slog"
	"reflect"
	"testing"
)

// TestLogFormat: logFormat defaults to text, takes json, names itself
// when bad, and --log-format / --log-level (ApplyLog) override the file.
func TestLogFormat(t *testing.T) {
	c, err := Parse([]byte("bgp: {asn: 65000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogFormat != LogText {
		t.Errorf("logFormat = %q, want the default %q", c.LogFormat, LogText)
	}
	c, err = Parse([]byte("bgp: {asn: 65000}\nlogFormat: json\nlogLevel: warn\n"))
	if err != nil || c.LogFormat != LogJSON || c.Level() != slog.LevelWarn {
		t.Fatalf("logFormat: json, logLevel: warn = %q, %v, %v", c.LogFormat, c.Level(), err)
	}
	c.ApplyLog("", "")
	if c.LogFormat != LogJSON || c.LogLevel != "warn" {
		t.Errorf("empty flags changed the file's values: %q %q", c.LogFormat, c.LogLevel)
	}
	c.ApplyLog(LogText, "debug")
	if c.LogFormat != LogText || c.Level() != slog.LevelDebug {
		t.Errorf("flags did not override: %q %v", c.LogFormat, c.Level())
	}

	for _, tc := range []struct{ format, want string }{
		{"xml", `logFormat: must be text or json, got "xml"`},
		{"JSON", `logFormat: must be text or json, got "JSON"`},
		{"", `logFormat: must be text or json, got ""`},
	} {
		c := valid()
		c.LogFormat = tc.format
		if got := messages(c.Validate()); !reflect.DeepEqual(got, []string{tc.want}) {
			t.Errorf("logFormat %q: problems %q, want %q", tc.format, got, tc.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for s, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warning": slog.LevelWarn, "error": slog.LevelError} {
		if l, err := ParseLevel(s); err != nil || l != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", s, l, err, want)
		}
	}
	if _, err := ParseLevel("trace"); err == nil || err.Error() != `must be debug, info, warn or error, got "trace"` {
		t.Errorf("ParseLevel(trace) = %v", err)
	}
}
