package ipam

import (
	"net/netip"
	"testing"
)

// Usage counts the records in each block and what Allocate could still
// hand out, for IPv4 and IPv6 pools.
func TestUsage(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	net := NetworkInfo{Name: "pods", Pools: []Pool{
		{Subnet: netip.MustParsePrefix("10.244.0.0/16"), Block: netip.MustParsePrefix("10.244.1.0/29"), Gateway: netip.MustParseAddr("10.244.0.1")},
		{Subnet: netip.MustParsePrefix("fd00:10:244::/48"), Block: netip.MustParsePrefix("fd00:10:244:1::/120"), Gateway: netip.MustParseAddr("fd00:10:244:1::1")},
	}}
	usage := func() []Usage {
		t.Helper()
		u, err := s.Usage([]NetworkInfo{net})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	// /29: 6 usable, the gateway outside the block. /120: 255 usable, the gateway in it.
	if u := usage(); len(u) != 2 || u[0].Used != 0 || u[0].Free != 6 || u[1].Used != 0 || u[1].Free != 254 {
		t.Fatalf("empty store: %+v", u)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.Allocate("pods", net.Blocks(), net.Gateways(), Owner{ContainerID: id, IfName: "eth0"}); err != nil {
			t.Fatal(err)
		}
	}
	if u := usage(); u[0].Used != 3 || u[0].Free != 3 || u[1].Used != 3 || u[1].Free != 251 {
		t.Fatalf("three pods: %+v", u)
	}
	for _, id := range []string{"d", "e", "f"} {
		if _, err := s.Allocate("pods", net.Blocks(), net.Gateways(), Owner{ContainerID: id, IfName: "eth0"}); err != nil {
			t.Fatal(err)
		}
	}
	if u := usage(); u[0].Free != 0 {
		t.Fatalf("a full block: %+v", u)
	}
	if _, err := s.Allocate("pods", net.Blocks(), net.Gateways(), Owner{ContainerID: "g", IfName: "eth0"}); err == nil {
		t.Fatal("Allocate in a block Usage calls full succeeded")
	}
	if err := s.Release("a", "eth0"); err != nil {
		t.Fatal(err)
	}
	if u := usage(); u[0].Used != 5 || u[0].Free != 1 {
		t.Fatalf("after a release: %+v", u)
	}
	big := NetworkInfo{Name: "big", Pools: []Pool{{Subnet: netip.MustParsePrefix("fd00::/48"), Block: netip.MustParsePrefix("fd00:0:0:1::/64"), Gateway: netip.MustParseAddr("fd00::1")}}}
	if u, err := s.Usage([]NetworkInfo{big}); err != nil || u[0].Free != 18446744073709551615 {
		t.Fatalf("a /64 never used: %+v %v", u, err)
	}
}
