package agent

import (
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/ipam"
)

// TestBuildNetworksDualStack: a dual-stack network's bridge holds the IPv6
// anycast gateway with subnet6's length, its EVPN network knows subnet6
// (remote IPv6 neighbours), and networks.json carries the IPv6 prefixes;
// an IPv4-only network has none of them.
func TestBuildNetworksDualStack(t *testing.T) {
	cfg := config.Default()
	cfg.Networks = []config.Network{
		{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24",
			Subnet6: "fd00:10:244::/48", Gateway6: "fd00:10:244::1", Block6: "fd00:10:244:1::/64"},
		{Name: "v4", VNI: 200, Subnet: "10.96.0.0/16", Gateway: "10.96.0.1", Block: "10.96.1.0/24"},
	}
	a := &agent{cfg: cfg, ul: underlay{Dev: "eth0", MTU: 1500, Addr: netip.MustParseAddr("192.0.2.1")}}
	nets, err := a.buildNetworks()
	if err != nil {
		t.Fatal(err)
	}
	a.networks = nets
	if got := nets[0].Device.Gateway6; got != netip.MustParsePrefix("fd00:10:244::1/48") {
		t.Errorf("Gateway6 = %s, want fd00:10:244::1/48", got)
	}
	if got := nets[0].Subnet6; got != netip.MustParsePrefix("fd00:10:244::/48") {
		t.Errorf("Subnet6 = %s", got)
	}
	if nets[1].Device.Gateway6.IsValid() || nets[1].Subnet6.IsValid() {
		t.Errorf("IPv4-only network got IPv6: %+v", nets[1])
	}
	info := a.networkInfo()
	want6 := ipam.Pool{Subnet: netip.MustParsePrefix("fd00:10:244::/48"), Block: netip.MustParsePrefix("fd00:10:244:1::/64"), Gateway: netip.MustParseAddr("fd00:10:244::1")}
	if len(info[0].Pools) != 2 || info[0].Pools[1] != want6 {
		t.Errorf("networkInfo[0] = %+v, want an IPv6 pool %+v", info[0], want6)
	}
	if len(info[1].Pools) != 1 {
		t.Errorf("networkInfo[1] = %+v, want one pool", info[1])
	}
	for _, n := range info {
		if err := n.Validate(); err != nil {
			t.Error(err)
		}
	}
}
