package desired

import (
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay"
)

func boolp(b bool) *bool { return &b }

// TestNAT: every pool of a NATed network masquerades towards everything
// outside every network's pools of its family; a network with
// natOutgoing false is not NATed but stays exempt as a destination.
func TestNAT(t *testing.T) {
	nets := []config.Network{
		{Name: "pods", Subnet: "10.244.0.0/16", Subnet6: "fd00:10:244::/48"},
		{Name: "edge", Subnet: "10.96.0.0/16", NATOutgoing: boolp(false)},
		{Name: "lab", Subnet: "192.168.0.0/24", Subnet6: "fd00:1::/64", NATOutgoing: boolp(true)},
	}
	s := overlay.NewState()
	s.NAT = NAT(nets)
	want := strings.Join([]string{
		`nat ip saddr 10.244.0.0/16 ip daddr != 10.96.0.0/16 ip daddr != 10.244.0.0/16 ip daddr != 192.168.0.0/24 masquerade fully-random comment "pods"`,
		`nat ip saddr 192.168.0.0/24 ip daddr != 10.96.0.0/16 ip daddr != 10.244.0.0/16 ip daddr != 192.168.0.0/24 masquerade fully-random comment "lab"`,
		`nat ip6 saddr fd00:10:244::/48 ip6 daddr != fd00:1::/64 ip6 daddr != fd00:10:244::/48 masquerade fully-random comment "pods"`,
		`nat ip6 saddr fd00:1::/64 ip6 daddr != fd00:1::/64 ip6 daddr != fd00:10:244::/48 masquerade fully-random comment "lab"`,
	}, "\n")
	if got := s.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if n := NAT([]config.Network{nets[1]}); !n.IsZero() {
		t.Fatalf("no NATed network: %v", n)
	}
}

// TestMergeCarriesNAT: the NAT is in every published state, in both
// modes, and the EVPN snapshot is not modified.
func TestMergeCarriesNAT(t *testing.T) {
	n := NAT([]config.Network{{Name: "pods", Subnet: "10.244.0.0/16"}})
	for _, mode := range []string{config.ModeOverlay, config.ModeRouted} {
		var got overlay.State
		m := New(mode, nil, &target{s: &got})
		m.SetNAT(n)
		ev := overlay.NewState()
		m.SetEVPN(ev)
		m.Publish()
		if !got.NAT.Equal(n) {
			t.Errorf("%s: published nat %v, want %v", mode, got.NAT, n)
		}
		if !ev.NAT.IsZero() {
			t.Errorf("%s: the EVPN snapshot was modified", mode)
		}
		m.SetNAT(overlay.NAT{})
		if !got.NAT.IsZero() {
			t.Errorf("%s: nat still published after SetNAT(zero)", mode)
		}
	}
}
