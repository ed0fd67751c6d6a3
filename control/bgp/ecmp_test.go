package bgp_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	apb "google.golang.org/protobuf/types/known/anypb"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// The import policy admits unicast routes inside ImportUnicast at any
// length and ImportExact routes exactly, over ipv4 and ipv6 unicast; a
// withdrawal arrives as an empty path set.
func TestUnicastImport(t *testing.T) {
	ctx := context.Background()
	p := netip.MustParsePrefix
	a := newNode(t, "127.0.0.71", "10.0.0.71")
	b := newNodeConfig(t, "127.0.0.72", bgp.Config{
		ASN: bgptest.ASN, RouterID: "10.0.0.72",
		ImportUnicast: []netip.Prefix{p("10.244.0.0/16"), p("fd00:10:244::/48")},
		// 10.244.5.0/24 exact, inside a range: must not shadow it (policy.go).
		ImportExact: []netip.Prefix{p("0.0.0.0/0"), p("::/0"), p("10.244.5.0/24")},
	})
	rb := bgptest.WatchUnicast(t, b.Speaker)

	nh4, nh6 := netip.MustParseAddr("192.0.2.71"), netip.MustParseAddr("2001:db8::71")
	accepted := []string{"10.244.1.0/24", "10.244.5.0/24", "10.244.5.128/25", "10.244.7.7/32", "0.0.0.0/0", "fd00:10:244:1::/64", "::/0"}
	rejected := []string{"10.0.0.0/8", "192.168.99.0/24", "10.245.0.0/24", "10.244.0.0/15", "0.0.0.0/1", "2001:db8::/32", "fd00:10::/32"}
	for _, s := range append(accepted, rejected...) {
		pfx := p(s)
		nh := nh4
		if pfx.Addr().Is6() {
			nh = nh6
		}
		if err := a.AddUnicast(ctx, pfx, nh); err != nil {
			t.Fatal(err)
		}
	}
	// B's own block: a local path passes the import policy, Peer "".
	if err := b.AddUnicast(ctx, p("10.244.2.0/24"), netip.MustParseAddr("192.0.2.72")); err != nil {
		t.Fatal(err)
	}
	bgptest.Connect(t, a, b, bgp.FamilyIPv4, bgp.FamilyIPv6)
	bgptest.WaitFor(t, "EOR ipv4 and ipv6 from A", bgptest.SessionTimeout, func() bool {
		return rb.Has("eor ipv4 "+a.IP) && rb.Has("eor ipv6 "+a.IP)
	})
	var want []string
	for _, s := range accepted {
		nh := nh4
		if p(s).Addr().Is6() {
			nh = nh6
		}
		want = append(want, s+" "+nh.String()+"@"+a.IP)
	}
	want = append(want, "10.244.2.0/24 192.0.2.72@local")
	rb.WaitRoutes(t, "B's routes after A's EOR", want...)

	// Withdrawn: the prefix is reported with no paths.
	if err := a.DeleteUnicast(ctx, p("10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteUnicast(ctx, p("::/0")); err != nil {
		t.Fatal(err)
	}
	rb.WaitRoutes(t, "after A's withdrawals", slices.DeleteFunc(want, func(s string) bool {
		return strings.HasPrefix(s, "10.244.1.0/24 ") || strings.HasPrefix(s, "::/0 ")
	})...)
}

// ECMP over eBGP: two upstreams in different ASes announce the same
// prefix; the host's unicast watch reports both paths, then one when the
// other's AS path grows longer or is withdrawn. And the host exports its
// own routes only: what it learns from one upstream never reaches the other.
func TestECMP(t *testing.T) {
	ctx := context.Background()
	p := netip.MustParsePrefix
	subnet := p("10.244.0.0/16")
	h := newNodeConfig(t, "127.0.0.81", bgp.Config{ASN: bgptest.ASN, RouterID: "10.0.0.81",
		ImportUnicast: []netip.Prefix{subnet}, ImportExact: []netip.Prefix{p("0.0.0.0/0")}})
	u1 := newNodeConfig(t, "127.0.0.82", bgp.Config{ASN: 65001, RouterID: "10.0.0.82", ImportUnicast: []netip.Prefix{subnet}})
	u2 := newNodeConfig(t, "127.0.0.83", bgp.Config{ASN: 65002, RouterID: "10.0.0.83", ImportUnicast: []netip.Prefix{subnet}})
	rh := bgptest.WatchUnicast(t, h.Speaker)
	ru2 := bgptest.WatchUnicast(t, u2.Speaker)

	nh1, nh2, nhh := netip.MustParseAddr("192.0.2.82"), netip.MustParseAddr("192.0.2.83"), netip.MustParseAddr("192.0.2.81")
	for _, r := range []struct {
		n   *bgptest.Speaker
		pfx string
		nh  netip.Addr
	}{
		{u1, "0.0.0.0/0", nh1}, {u1, "10.244.77.0/24", nh1}, // the latter is inside U2's range
		{u2, "0.0.0.0/0", nh2},
		{h, "10.244.1.0/24", nhh},
	} {
		if err := r.n.AddUnicast(ctx, p(r.pfx), r.nh); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.SetPeers(ctx, []bgp.PeerConfig{h.PeerConfig(u1, bgp.FamilyIPv4), h.PeerConfig(u2, bgp.FamilyIPv4)}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*bgptest.Speaker{u1, u2} {
		if err := u.SetPeers(ctx, []bgp.PeerConfig{u.PassivePeerConfig(h, bgp.FamilyIPv4)}); err != nil {
			t.Fatal(err)
		}
	}
	rh.WaitRoutes(t, "ECMP default route at H",
		"0.0.0.0/0 192.0.2.82@127.0.0.82,192.0.2.83@127.0.0.83",
		"10.244.1.0/24 192.0.2.81@local",
		"10.244.77.0/24 192.0.2.82@127.0.0.82")
	// eBGP keeps our explicit next hop. U2 has H's full table once H's EOR
	// is in: its own route, not U1's 10.244.77.0/24.
	bgptest.WaitFor(t, "EOR from H at U2", bgptest.SessionTimeout, func() bool { return ru2.Has("eor ipv4 " + h.IP) })
	ru2.WaitRoutes(t, "U2's routes", "0.0.0.0/0 192.0.2.83@local", "10.244.1.0/24 192.0.2.81@127.0.0.81")

	// A longer AS path from U1 breaks the tie.
	long := unicast(t, "0.0.0.0/0", nh1.String())
	long.Pattrs = append(long.Pattrs, asPath(t, 65009))
	if err := u1.AddPath(ctx, long); err != nil {
		t.Fatal(err)
	}
	rh.WaitRoutes(t, "U1's longer AS path",
		"0.0.0.0/0 192.0.2.83@127.0.0.83", "10.244.1.0/24 192.0.2.81@local", "10.244.77.0/24 192.0.2.82@127.0.0.82")
	// U2 withdraws: U1's path is the only one left.
	if err := u2.DeleteUnicast(ctx, p("0.0.0.0/0")); err != nil {
		t.Fatal(err)
	}
	rh.WaitRoutes(t, "U2's withdrawal",
		"0.0.0.0/0 192.0.2.82@127.0.0.82", "10.244.1.0/24 192.0.2.81@local", "10.244.77.0/24 192.0.2.82@127.0.0.82")
	// Back to a tie, then U1's session goes: its routes are withdrawn.
	if err := u2.AddUnicast(ctx, p("0.0.0.0/0"), nh2); err != nil {
		t.Fatal(err)
	}
	if err := u1.AddUnicast(ctx, p("0.0.0.0/0"), nh1); err != nil {
		t.Fatal(err)
	}
	rh.WaitRoutes(t, "tie again",
		"0.0.0.0/0 192.0.2.82@127.0.0.82,192.0.2.83@127.0.0.83", "10.244.1.0/24 192.0.2.81@local", "10.244.77.0/24 192.0.2.82@127.0.0.82")
	if err := u1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rh.WaitRoutes(t, "U1 stopped", "0.0.0.0/0 192.0.2.83@127.0.0.83", "10.244.1.0/24 192.0.2.81@local")
}

// asPath is an AS_PATH attribute for a local path.
func asPath(t *testing.T, asns ...uint32) *apb.Any {
	t.Helper()
	a, err := apiutil.MarshalPathAttributes([]bgppkt.PathAttributeInterface{
		bgppkt.NewPathAttributeAsPath([]bgppkt.AsPathParamInterface{bgppkt.NewAs4PathParam(bgppkt.BGP_ASPATH_ATTR_TYPE_SEQ, asns)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a[0]
}
