package logfmt

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	var text, js bytes.Buffer
	for _, l := range []*slog.Logger{slog.New(Handler(&text, Text, slog.LevelInfo)), slog.New(Handler(&js, JSON, slog.LevelInfo))} {
		l.Debug("hidden")
		l.Info("shown", "peer", "10.0.0.2")
	}
	if s := text.String(); !strings.HasPrefix(s, "time=") || !strings.HasSuffix(s, "level=INFO msg=shown peer=10.0.0.2\n") {
		t.Errorf("text: %q", s)
	}
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["level"] != "INFO" || rec["peer"] != "10.0.0.2" || rec["time"] == nil {
		t.Errorf("json: %s (%v)", &js, err)
	}
	if err := CheckFormat("yaml"); err == nil || err.Error() != `must be text or json, got "yaml"` {
		t.Errorf("CheckFormat(yaml) = %v", err)
	}
}
