package desired

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay"
)

// In overlay mode a block route via an EVPN VTEP is dropped (that peer's
// pods are reached at L2), but a host route via the same VTEP (a chained
// endpoint of the peer) is installed: it has no L2 path.
func TestMergeKeepsHostRoutesViaVTEP(t *testing.T) {
	vtep := netip.MustParseAddr("10.250.0.2")
	routedPeer := netip.MustParseAddr("10.250.0.3")
	var got overlay.State
	m := New(config.ModeOverlay, nil, func(s overlay.State) { got = s })
	ev := overlay.NewState()
	ev.Flood[overlay.Flood{VNI: 100, VTEP: vtep}] = struct{}{}
	m.SetEVPN(ev)
	p := netip.MustParsePrefix
	routes := map[netip.Prefix]overlay.Route{}
	for _, r := range []overlay.Route{
		overlay.NewRoute(p("10.244.2.0/24"), vtep),       // EVPN peer's block: dropped
		overlay.NewRoute(p("10.244.3.0/24"), routedPeer), // routed peer's block: kept
		overlay.NewRoute(p("10.244.200.10/32"), vtep),    // EVPN peer's chained pod: kept
		overlay.NewRoute(p("fd00:10:244:200::10/128"), netip.MustParseAddr("2001:db8::2")),
	} {
		routes[r.Dst] = r
	}
	m.SetRoutes(routes)
	var dsts []string
	for d := range got.Routes {
		dsts = append(dsts, d.String())
	}
	slices.Sort(dsts)
	want := []string{"10.244.200.10/32", "10.244.3.0/24", "fd00:10:244:200::10/128"}
	if !slices.Equal(dsts, want) {
		t.Fatalf("routes %v, want %v", dsts, want)
	}
}
