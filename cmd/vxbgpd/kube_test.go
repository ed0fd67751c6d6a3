package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
)

// kubeConfig is the ConfigMap's one config of every node: no nodeName,
// underlay address, blocks or peers.
const kubeConfig = `bgp: {asn: 64512}
networks:
  - {name: pods, vni: 100, subnet: 10.244.0.0/16, gateway: 10.244.0.1}
kubernetes: {enabled: true}
`

// TestCheckKubernetes: --check accepts the one config of every node,
// refuses a block written by hand, and NODE_NAME names the node.
func TestCheckKubernetes(t *testing.T) {
	t.Setenv(config.NodeNameEnv, "node-3")
	for _, tc := range []struct {
		name, config, wantStderr string
		wantCode                 int
	}{
		{name: "valid", config: kubeConfig},
		{name: "block by hand", config: strings.Replace(kubeConfig, "gateway: 10.244.0.1}", "gateway: 10.244.0.1, block: 10.244.1.0/24}", 1),
			wantCode: 1, wantStderr: `networks[0].block: must be empty with kubernetes.enabled (each node's block comes from its Node's spec.podCIDRs), got "10.244.1.0/24"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"--config", writeConfig(t, tc.config), "--check"}, &stdout, &stderr, "v1", noStart(t))
			if code != tc.wantCode || stderr.String() != tc.wantStderr {
				t.Errorf("exit %d stderr %q, want %d %q", code, &stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
	var got string
	start := func(_ context.Context, cfg *config.Config, _ *slog.Logger) error { got = cfg.NodeName; return nil }
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config", writeConfig(t, kubeConfig)}, &stdout, &stderr, "v1", start); code != 0 || got != "node-3" {
		t.Errorf("exit %d, nodeName %q; want 0 and NODE_NAME's node-3; stderr:\n%s", code, got, &stderr)
	}
}
