package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/members"
)

// TestJSONLogs: with --log-format json every line vxbgpd writes to stderr
// is one JSON object with time, level and msg: its own lines, client-go's
// (klog) and memberlist's, from two real gossiping members.
func TestJSONLogs(t *testing.T) {
	path := writeConfig(t, validConfig) // logLevel: debug, for memberlist's lines
	start := func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
		if cfg.LogFormat != config.LogJSON {
			t.Errorf("logFormat = %q, want the flag's json", cfg.LogFormat)
		}
		log.Warn("agent warns", "peer", "10.0.0.254")
		klog.InfoS("informer synced", "resource", "nodes")
		gossip(t, ctx, log)
		return nil
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config", path, "--log-format", "json"}, &stdout, &stderr, "v1", start); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, &stderr)
	}
	seen := map[string]bool{}
	for i, line := range lines(stderr.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d is not a JSON object (%v): %s", i+1, err, line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k].(string); !ok {
				t.Errorf("line %d has no %s: %s", i+1, k, line)
			}
		}
		switch {
		case rec["msg"] == "vxbgpd starting" && rec["version"] == "v1":
			seen["vxbgpd"] = true
		case rec["msg"] == "agent warns" && rec["level"] == "WARN" && rec["peer"] == "10.0.0.254":
			seen["agent"] = true
		case rec["component"] == "client-go" && rec["msg"] == "informer synced" && rec["resource"] == "nodes":
			seen["klog"] = true
		case rec["lib"] == "memberlist":
			seen["memberlist"] = true
		}
	}
	for _, want := range []string{"vxbgpd", "agent", "klog", "memberlist"} {
		if !seen[want] {
			t.Errorf("no JSON line from %s in:\n%s", want, &stderr)
		}
	}
}

// gossip runs two members on loopback with log until each sees the other,
// so that memberlist logs through it.
func gossip(t *testing.T, ctx context.Context, log *slog.Logger) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ds []*members.Discovery
	var done []chan error
	for i, name := range []string{"a", "b"} {
		c := members.Config{
			Self:   members.Meta{Name: name, Addr: netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), ASN: 64512, Mode: config.ModeOverlay},
			Logger: log.With("component", "members", "node", name),
		}
		if i > 0 {
			c.Seeds = []string{ds[0].Addr().String()}
		}
		d, err := members.New(c)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan error, 1)
		go func() { ch <- d.Run(ctx) }()
		ds, done = append(ds, d), append(done, ch)
		waitUntil(t, name+" bound", func() bool { return d.Addr().IsValid() })
	}
	defer func() {
		cancel()
		for _, ch := range done {
			if err := <-ch; err != nil {
				t.Errorf("members Run: %v", err)
			}
		}
	}()
	for _, d := range ds {
		waitUntil(t, "two members", func() bool { return len(d.Members()) == 2 })
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
	}
}

// TestLogFlags: --log-format and --log-level override the file's logFormat
// and logLevel; bad values, by flag or in the file, exit non-zero naming
// the flag or the key, and the agent never starts.
func TestLogFlags(t *testing.T) {
	file := strings.Replace(validConfig, "logLevel: debug", "logLevel: debug\nlogFormat: json", 1)
	for _, tc := range []struct {
		name       string
		config     string
		flags      []string
		wantFormat string
		wantLevel  slog.Level
	}{
		{name: "file", config: file, wantFormat: "json", wantLevel: slog.LevelDebug},
		{name: "flags win", config: file, flags: []string{"--log-format=text", "--log-level", "WARN"}, wantFormat: "text", wantLevel: slog.LevelWarn},
		{name: "defaults", config: strings.Replace(validConfig, "logLevel: debug\n", "", 1), wantFormat: "text", wantLevel: slog.LevelInfo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *config.Config
			start := func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
				got = cfg
				if !log.Enabled(ctx, tc.wantLevel) || log.Enabled(ctx, tc.wantLevel-1) {
					t.Errorf("logger is not at %v", tc.wantLevel)
				}
				log.Warn("agent warns")
				return nil
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), append([]string{"--config", writeConfig(t, tc.config)}, tc.flags...), &stdout, &stderr, "v1", start); code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, &stderr)
			}
			if got.LogFormat != tc.wantFormat || got.Level() != tc.wantLevel {
				t.Errorf("agent got logFormat %q logLevel %v, want %q %v", got.LogFormat, got.Level(), tc.wantFormat, tc.wantLevel)
			}
			// JSON lines start with {, text ones with time=.
			for _, l := range lines(stderr.String()) {
				if strings.HasPrefix(l, "{") != (tc.wantFormat == "json") {
					t.Errorf("log line is not %s: %s", tc.wantFormat, l)
				}
			}
		})
	}

	for _, tc := range []struct {
		name       string
		config     string
		flags      []string
		wantCode   int
		wantStderr string
	}{
		{name: "bad --log-format", config: validConfig, flags: []string{"--log-format", "xml"}, wantCode: 2,
			wantStderr: `invalid value "xml" for flag -log-format: must be text or json, got "xml"`},
		{name: "bad --log-level", config: validConfig, flags: []string{"--log-level=trace"}, wantCode: 2,
			wantStderr: `invalid value "trace" for flag -log-level: must be debug, info, warn or error, got "trace"`},
		{name: "bad logFormat", config: validConfig + "logFormat: logfmt\n", wantCode: 1,
			wantStderr: `logFormat: must be text or json, got "logfmt"`},
		{name: "bad logFormat, --check", config: validConfig + "logFormat: logfmt\n", flags: []string{"--check"}, wantCode: 1,
			wantStderr: `logFormat: must be text or json, got "logfmt"`},
		{name: "bad logLevel, not fixed by the format flag", config: strings.Replace(validConfig, "logLevel: debug", "logLevel: loud", 1),
			flags: []string{"--log-format", "json"}, wantCode: 1, wantStderr: `logLevel: must be debug, info, warn or error, got "loud"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"--config", writeConfig(t, tc.config)}, tc.flags...), &stdout, &stderr, "v1", noStart(t))
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, &stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}
