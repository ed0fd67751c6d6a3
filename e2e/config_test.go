package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// TestInvalidConfig: `vxbgpd --check` rejects bad configs with a non-zero
// exit and one stderr line naming each bad key, accepts the valid base
// config, and vxbgpd without --check refuses to start with the same lines.
func TestInvalidConfig(t *testing.T) {
	nstest.Require(t)
	requireBinaries(t, lab.BinAgent)
	dir := t.TempDir()
	agent := filepath.Join(binaries.dir, lab.BinAgent)
	valid := func() *lab.HostConfig {
		c := &lab.HostConfig{NodeName: "h1", Mode: "overlay", StateDir: filepath.Join(dir, "state"), LogLevel: "info"}
		c.Underlay.Address = "10.250.0.1"
		c.BGP.ASN, c.BGP.RouterID, c.BGP.ListenPort = lab.ASN, "10.250.0.1", 179
		c.BGP.Peers = []lab.PeerConfig{{Address: "10.250.0.2", ASN: lab.ASN}}
		c.Networks = []lab.NetworkConfig{{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24"}}
		c.API.Socket = filepath.Join(dir, "api.sock")
		c.Metrics.Listen = "127.0.0.1:9642"
		return c
	}
	cases := []struct {
		name   string
		change func(*lab.HostConfig)
		raw    string   // used instead of a config when set
		want   []string // each must start a line of stderr (a key path) or, for raw, appear in it
	}{
		{name: "valid"},
		{name: "vni too large", change: func(c *lab.HostConfig) { c.Networks[0].VNI = 1 << 24 }, want: []string{"networks[0].vni"}},
		{name: "vni zero", change: func(c *lab.HostConfig) { c.Networks[0].VNI = 0 }, want: []string{"networks[0].vni"}},
		{name: "block outside subnet", change: func(c *lab.HostConfig) { c.Networks[0].Block = "10.245.1.0/24" }, want: []string{"networks[0].block"}},
		{name: "unknown mode", change: func(c *lab.HostConfig) { c.Mode = "bridged" }, want: []string{"mode"}},
		{name: "all three", change: func(c *lab.HostConfig) {
			c.Mode = "bridged"
			c.Networks[0].VNI = 1 << 24
			c.Networks[0].Block = "10.245.1.0/24"
		}, want: []string{"mode", "networks[0].vni", "networks[0].block"}},
		{name: "malformed yaml", raw: "nodeName: h1\nnetworks: [\n  {name: pods, vni: 100\n", want: []string{"line"}},
	}
	ctx := testCtx(t, 2*time.Minute)
	_, ns := nstest.New(t, "vxcfg")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "config"+string(rune('a'+i))+".yaml")
			if tc.raw != "" {
				writeFile(t, path, tc.raw)
			} else {
				c := valid()
				if tc.change != nil {
					tc.change(c)
				}
				must(t, lab.WriteConfig(path, c))
			}
			code, stderr := runAgent(t, ctx, "", agent, "--config", path, "--check")
			if tc.want == nil {
				if code != 0 {
					t.Fatalf("--check on a valid config: exit %d, stderr:\n%s", code, stderr)
				}
				return
			}
			if code == 0 {
				t.Fatalf("--check accepted a bad config")
			}
			checkNames(t, stderr, tc.want, tc.raw != "")
			// Without --check: refuses to start, same message. It runs in a
			// namespace of its own in case it got as far as the kernel.
			code2, stderr2 := runAgent(t, ctx, ns, agent, "--config", path)
			if code2 == 0 {
				t.Fatalf("vxbgpd started with a bad config")
			}
			if strings.TrimSpace(stderr2) != strings.TrimSpace(stderr) {
				t.Errorf("vxbgpd without --check said\n%s\nbut --check said\n%s", stderr2, stderr)
			}
		})
	}
}

// checkNames asserts each wanted key path starts a line of stderr ("key:
// problem"), or for free text, appears in it.
func checkNames(t *testing.T, stderr string, want []string, anywhere bool) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, line := range strings.Split(stderr, "\n") {
			if anywhere && strings.Contains(line, w) || strings.HasPrefix(strings.TrimSpace(line), w+":") {
				found = true
			}
		}
		if !found {
			t.Errorf("stderr does not name %q:\n%s", w, stderr)
		}
	}
	t.Logf("stderr:\n%s", strings.TrimSpace(stderr))
}

// runAgent runs vxbgpd (inside ns unless empty) and returns its exit code
// and stderr; it must exit within 20 s.
func runAgent(t *testing.T, ctx context.Context, ns string, argv ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit within 20s; stderr:\n%s", argv, stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	default:
		t.Fatalf("run %v: %v", argv, err)
		return -1, ""
	}
}
