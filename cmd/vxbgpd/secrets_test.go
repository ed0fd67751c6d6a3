package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
)

const canary = "vxbgp-canary-check-Pa55"

// Neither --check nor a start prints a peer's password, whatever is wrong
// around it.
func TestPasswordNeverPrinted(t *testing.T) {
	withPassword := func(peer string) string {
		return strings.Replace(validConfig, "      asn: 64512\n", "      asn: 64512\n"+peer, 1)
	}
	for _, tc := range []struct {
		name, config, wantStderr string // wantStderr: substring; "" => valid
	}{
		{"valid", withPassword("      password: " + canary + "\n"), ""},
		{"both keys", withPassword("      password: " + canary + "\n      passwordFile: /etc/vxbgp/secrets/p\n"),
			"bgp.peers[0].passwordFile: must not be set together with bgp.peers[0].password"},
		{"too long", withPassword("      password: " + strings.Repeat(canary, 4) + "\n"), "bgp.peers[0].password: is 92 bytes long"},
		{"a list", withPassword("      password: [" + canary + "]\n"), "bgp.peers[0].password: must be a string, got a list"},
		{"twice", withPassword("      password: " + canary + "\n      password: " + canary + "x\n"), "bgp.peers[0].password: duplicate key"},
		{"unterminated quote", withPassword("      password: \"" + canary + "\n"), "malformed YAML"},
		{"misspelt", withPassword("      pasword: " + canary + "\n"), "bgp.peers[0].pasword: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.config)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"--config", path, "--check"}, &stdout, &stderr, "v1", noStart(t))
			if (code == 0) != (tc.wantStderr == "") || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Fatalf("exit %d, stderr %q; want %q", code, &stderr, tc.wantStderr)
			}
			if out := stdout.String() + stderr.String(); strings.Contains(out, canary) {
				t.Errorf("--check printed the password:\n%s", out)
			}
			if code != 0 {
				return
			}
			stdout.Reset()
			stderr.Reset()
			start := func(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
				if cfg.BGP.Peers[0].Password != canary {
					t.Errorf("the agent got password %q", cfg.BGP.Peers[0].Password)
				}
				log.Debug("config", "peers", cfg.BGP.Peers, "config", cfg) // as a careless log line would
				return nil
			}
			if code := run(context.Background(), []string{"--config", path}, &stdout, &stderr, "v1", start); code != 0 {
				t.Fatalf("exit %d: %s", code, &stderr)
			}
			if out := stdout.String() + stderr.String(); strings.Contains(out, canary) || !strings.Contains(out, "md5 (set)") {
				t.Errorf("a start printed the password (or did not log):\n%s", out)
			}
		})
	}
}
