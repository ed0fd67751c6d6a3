package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
)

const validConfig = `nodeName: host-a
mode: overlay
underlay:
  address: 10.0.0.1
bgp:
  asn: 64512
  peers:
    - address: 10.0.0.254
      asn: 64512
networks:
  - name: pods
    vni: 100
    subnet: 10.244.0.0/16
    gateway: 10.244.0.1
    block: 10.244.1.0/24
logLevel: debug
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// noStart fails the test if the agent is started.
func noStart(t *testing.T) startFunc {
	return func(context.Context, *config.Config, *slog.Logger) error {
		t.Error("the agent was started")
		return nil
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		config     string
		flags      []string
		wantCode   int
		wantStderr []string // exact lines
	}{
		{name: "valid", config: validConfig, wantCode: 0},
		{name: "valid, routed by flag", config: validConfig, flags: []string{"--mode", "routed"}, wantCode: 0},
		{name: "bad VNI", config: strings.Replace(validConfig, "vni: 100", "vni: 16777216", 1), wantCode: 1,
			wantStderr: []string{"networks[0].vni: must be 1..16777215"}},
		{name: "block outside subnet", config: strings.Replace(validConfig, "block: 10.244.1.0/24", "block: 10.245.1.0/24", 1), wantCode: 1,
			wantStderr: []string{"networks[0].block: 10.245.1.0/24 is outside subnet 10.244.0.0/16"}},
		{name: "unknown mode in the file", config: strings.Replace(validConfig, "mode: overlay", "mode: bridged", 1), wantCode: 1,
			wantStderr: []string{`mode: must be "overlay" or "routed", got "bridged"`}},
		{name: "unknown mode by flag", config: validConfig, flags: []string{"--mode=l3"}, wantCode: 1,
			wantStderr: []string{`mode: must be "overlay" or "routed", got "l3"`}},
		{name: "several problems", config: strings.NewReplacer("vni: 100", "vni: 0", "asn: 64512\n  peers", "asn: 0\n  peers").Replace(validConfig), wantCode: 1,
			wantStderr: []string{"bgp.asn: must be set (1..4294967295)", "networks[0].vni: must be 1..16777215"}},
		{name: "unknown keys", config: strings.Replace(validConfig, "vni: 100", "vnii: 100\n    color: blue", 1), wantCode: 1,
			wantStderr: []string{"networks[0].vnii: unknown key", "networks[0].color: unknown key"}},
		{name: "malformed YAML", config: "bgp:\n  asn: 1\n peers: []\n", wantCode: 1,
			wantStderr: []string{"malformed YAML: yaml: line 2: did not find expected key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.config)
			var stdout, stderr bytes.Buffer
			args := append([]string{"--config", path, "--check"}, tc.flags...)
			code := run(context.Background(), args, &stdout, &stderr, "v1", noStart(t))
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, &stderr)
			}
			wantStdout := ""
			if tc.wantCode == 0 {
				wantStdout = "config " + path + ": ok\n"
			}
			if stdout.String() != wantStdout {
				t.Errorf("stdout %q, want %q", &stdout, wantStdout)
			}
			if got := lines(stderr.String()); strings.Join(got, "\n") != strings.Join(tc.wantStderr, "\n") {
				t.Errorf("stderr lines:\n got %q\nwant %q", got, tc.wantStderr)
			}
		})
	}
}

func TestCheckMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config", path, "--check"}, &stdout, &stderr, "v1", noStart(t)); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got := stderr.String(); !strings.Contains(got, path) || !strings.Contains(got, "no such file") {
		t.Errorf("stderr %q, want the missing file named", got)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // substring
	}{
		{name: "version", args: []string{"--version"}, wantStdout: "vxbgpd v1.2.3\n"},
		{name: "help", args: []string{"--help"}, wantStderr: "usage: vxbgpd"},
		{name: "unknown flag", args: []string{"--bogus"}, wantCode: 2, wantStderr: "flag provided but not defined: -bogus"},
		{name: "stray argument", args: []string{"start"}, wantCode: 2, wantStderr: `unexpected argument "start"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr, "v1.2.3", noStart(t))
			if code != tc.wantCode || stdout.String() != tc.wantStdout || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d stdout %q stderr %q; want %d %q and stderr containing %q",
					code, &stdout, &stderr, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

// TestStart: without --check the validated config reaches the agent, with
// --mode applied and a logger at logLevel; the agent's error is exit 1.
func TestStart(t *testing.T) {
	errAgent := errors.New("bgp: listen tcp :179: address already in use")
	for _, tc := range []struct {
		name     string
		flags    []string
		agentErr error
		wantCode int
		wantMode string
		wantLog  string
	}{
		{name: "clean stop", wantCode: 0, wantMode: "overlay", wantLog: "vxbgpd stopped"},
		{name: "mode flag", flags: []string{"--mode", "routed"}, wantCode: 0, wantMode: "routed", wantLog: "mode=routed"},
		{name: "agent fails", agentErr: errAgent, wantCode: 1, wantMode: "overlay", wantLog: `level=ERROR msg="vxbgpd failed" err="bgp: listen tcp :179: address already in use"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, validConfig)
			type ctxKey struct{}
			ctx := context.WithValue(context.Background(), ctxKey{}, "the caller's")
			var got *config.Config
			start := func(sctx context.Context, cfg *config.Config, log *slog.Logger) error {
				if sctx.Value(ctxKey{}) != "the caller's" {
					t.Error("the agent did not get run's context")
				}
				if !log.Enabled(sctx, slog.LevelDebug) {
					t.Error("logger is not at logLevel debug")
				}
				log.Debug("agent says hello")
				got = cfg
				return tc.agentErr
			}
			var stdout, stderr bytes.Buffer
			code := run(ctx, append([]string{"--config", path}, tc.flags...), &stdout, &stderr, "v1", start)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, &stderr)
			}
			if got == nil {
				t.Fatal("the agent was not started")
			}
			if got.Mode != tc.wantMode || got.NodeName != "host-a" || got.BGP.ASN != 64512 {
				t.Errorf("agent got mode %q node %q asn %d", got.Mode, got.NodeName, got.BGP.ASN)
			}
			for _, want := range []string{tc.wantLog, "agent says hello"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, &stderr)
				}
			}
		})
	}
}

// TestRefuseBadConfig: without --check a bad config prints the same lines
// as --check, and the agent never starts.
func TestRefuseBadConfig(t *testing.T) {
	path := writeConfig(t, strings.Replace(validConfig, "vni: 100", "vni: 0", 1))
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config", path}, &stdout, &stderr, "v1", noStart(t)); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got, want := stderr.String(), "networks[0].vni: must be 1..16777215\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
