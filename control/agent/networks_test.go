package agent

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// dualStackAgent is an agent with just a config and a host: a dual-stack
// network and an IPv4-only one, in mode, with the IPv6 underlay address
// addr6 ("" for none).
func dualStackAgent(t *testing.T, mode string, addr6 string) *agent {
	t.Helper()
	cfg := config.Default()
	cfg.Mode = mode
	cfg.Networks = []config.Network{
		{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24",
			Subnet6: "fd00:10:244::/48", Gateway6: "fd00:10:244::1", Block6: "fd00:10:244:1::/64"},
		{Name: "v4", VNI: 200, Subnet: "10.96.0.0/16", Gateway: "10.96.0.1", Block: "10.96.1.0/24"},
	}
	ul := overlay.Underlay{Dev: "eth0", MTU: 1500, Addr: netip.MustParseAddr("192.0.2.1")}
	if addr6 != "" {
		ul.Addr6 = netip.MustParseAddr(addr6)
	}
	nets, err := buildNetworks(cfg, ul)
	if err != nil {
		t.Fatal(err)
	}
	return &agent{cfg: cfg, host: host{ul: ul, networks: nets}}
}

// A dual-stack network's bridge holds the IPv6 anycast gateway with
// subnet6's length, its EVPN network knows subnet6 (remote IPv6
// neighbours), and networks.json carries the IPv6 prefixes; an IPv4-only
// network has none of them.
func TestBuildNetworksDualStack(t *testing.T) {
	a := dualStackAgent(t, config.ModeOverlay, "")
	nets := a.host.networks
	if got := nets[0].Device.Gateway6; got != netip.MustParsePrefix("fd00:10:244::1/48") {
		t.Errorf("Gateway6 = %s, want fd00:10:244::1/48", got)
	}
	if got := nets[0].Subnets; !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/48")}) {
		t.Errorf("Subnets = %s", got)
	}
	if nets[1].Device.Gateway6.IsValid() || len(nets[1].Subnets) != 1 {
		t.Errorf("IPv4-only network got IPv6: %+v", nets[1])
	}
	if nets[0].Device.NDProxy.IsValid() {
		t.Errorf("overlay mode answers neighbour solicitations by EVPN, not proxy ND: %+v", nets[0].Device)
	}
	info := a.networkInfo()
	want6 := ipam.Pool{Subnet: netip.MustParsePrefix("fd00:10:244::/48"), Block: netip.MustParsePrefix("fd00:10:244:1::/64"), Gateway: netip.MustParseAddr("fd00:10:244::1")}
	if len(info[0].Pools) != 2 || info[0].Pools[1] != want6 {
		t.Errorf("networkInfo[0] = %+v", info[0])
	}
	if len(info[1].Pools) != 1 {
		t.Errorf("networkInfo[1] = %+v", info[1])
	}
	for _, n := range info {
		if err := n.Validate(); err != nil {
			t.Error(err)
		}
	}
}

// In routed mode a dual-stack host advertises its block6 via its IPv6
// underlay address, imports subnet6, adds ipv6 to its peers' families and
// has the dual-stack bridge answer neighbour solicitations (proxy ND); in
// overlay mode only the families change (the OPEN is the same in both
// modes); an IPv4-only config keeps the families it had.
func TestRouted6(t *testing.T) {
	p := netip.MustParsePrefix
	r := dualStackAgent(t, config.ModeRouted, "fd00:250::1")
	if got, want := r.blocks(), []netip.Prefix{p("10.244.1.0/24"), p("fd00:10:244:1::/64"), p("10.96.1.0/24")}; !slices.Equal(got, want) {
		t.Errorf("routed blocks = %v, want %v", got, want)
	}
	if got, want := r.subnets(), []netip.Prefix{p("10.244.0.0/16"), p("fd00:10:244::/48"), p("10.96.0.0/16")}; !slices.Equal(got, want) {
		t.Errorf("routed subnets = %v, want %v", got, want)
	}
	if got := r.nextHop6(); got != netip.MustParseAddr("fd00:250::1") {
		t.Errorf("routed nextHop6 = %s", got)
	}
	if got := r.families(); !slices.Equal(got, []string{"evpn", "ipv4", "ipv6"}) {
		t.Errorf("routed families = %v", got)
	}
	if got := r.host.networks[0].Device.NDProxy; got != p("fd00:10:244:1::/64") {
		t.Errorf("routed dual-stack bridge: NDProxy %s, want block6", got)
	}
	if got := r.host.networks[1].Device.NDProxy; got.IsValid() {
		t.Errorf("routed IPv4-only bridge: NDProxy %s, want none", got)
	}

	o := dualStackAgent(t, config.ModeOverlay, "fd00:250::1")
	if got := o.blocks(); len(got) != 2 {
		t.Errorf("overlay blocks = %v, want the IPv4 ones", got)
	}
	if got := o.subnets(); len(got) != 2 {
		t.Errorf("overlay subnets = %v, want the IPv4 ones", got)
	}
	if o.nextHop6().IsValid() {
		t.Errorf("overlay: nextHop6 %s, want none", o.nextHop6())
	}
	if got := o.families(); !slices.Equal(got, []string{"evpn", "ipv4", "ipv6"}) {
		t.Errorf("overlay families = %v", got)
	}

	v4 := dualStackAgent(t, config.ModeRouted, "fd00:250::1")
	v4.cfg.Networks[0].Subnet6, v4.cfg.Networks[0].Gateway6, v4.cfg.Networks[0].Block6 = "", "", ""
	if got := v4.families(); !slices.Equal(got, []string{"evpn", "ipv4"}) {
		t.Errorf("IPv4-only families = %v", got)
	}
	if got := v4.blocks(); len(got) != 2 || v4.nextHop6().IsValid() {
		t.Errorf("IPv4-only: blocks %v, nextHop6 %s", got, v4.nextHop6())
	}
}
