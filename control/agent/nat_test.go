package agent

import (
	"testing"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// Pod egress through the agent, over the fake kernel: natOutgoing unset
// programs the masquerade in both modes; a restart with another network
// set replaces it at once; a restart with natOutgoing false keeps it
// until the table is complete (as every delete), then removes it.
func TestAgentNATOutgoing(t *testing.T) {
	const rule4 = `nat ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade fully-random comment "pods"`
	for _, mode := range []string{config.ModeOverlay, config.ModeRouted} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			dp := overlaytest.New()
			cfg := testConfig(t, dir, mode)
			r1 := startAgent(t, cfg, dp)
			kernelHas(t, dp, "the masquerade", []string{rule4}, nil)
			if err := r1.stop(); err != nil {
				t.Fatal(err)
			}

			// A second network: its subnet is exempt, its pods NATed too.
			cfg = testConfig(t, dir, mode)
			cfg.Networks = append(cfg.Networks, config.Network{Name: "edge", VNI: 200, Subnet: "10.96.0.0/16", Gateway: "10.96.0.1", Block: "10.96.1.0/24"})
			must(t, cfg.Validate())
			r2 := startAgent(t, cfg, dp)
			kernelHas(t, dp, "the masquerade of two networks", []string{
				`nat ip saddr 10.244.0.0/16 ip daddr != 10.96.0.0/16 ip daddr != 10.244.0.0/16 masquerade`,
				`nat ip saddr 10.96.0.0/16 ip daddr != 10.96.0.0/16 ip daddr != 10.244.0.0/16 masquerade`,
			}, []string{rule4})
			if err := r2.stop(); err != nil {
				t.Fatal(err)
			}

			off := false
			cfg = testConfig(t, dir, mode)
			cfg.Networks[0].NATOutgoing = &off
			dp.Ops()
			r3 := startAgent(t, cfg, dp)
			kernelHas(t, dp, "the kept masquerade before the table is complete", []string{"nat ip saddr 10.244.0.0/16"}, nil)
			r3.sp.PeerUp(peerAddr)
			r3.sp.EOR(bgp.FamilyIPv4, peerAddr)
			r3.sp.EOR(bgp.FamilyEVPN, peerAddr)
			kernelHas(t, dp, "no nat once synced", nil, []string{"nat "})
			var dels int
			for _, op := range dp.Ops() {
				if op.NAT != nil && op.Kind == overlay.OpDel {
					dels++
				}
			}
			if dels != 1 {
				t.Fatalf("%d nat deletes, want 1", dels)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
