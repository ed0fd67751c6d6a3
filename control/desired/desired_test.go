package desired

import (
	"net/netip"
	"slices"
	"strings"
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
	m := New(config.ModeOverlay, nil, &target{s: &got})
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

// A masked host leaves the data path: its FDB and flood entries, its next
// hop in an ECMP route (a route with it alone goes), its host routes; its
// neighbours stay; the EVPN snapshot itself is not modified (it is
// shared). Unmasking brings everything back.
func TestMergeMasks(t *testing.T) {
	dead, live := netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.3")
	mac := overlay.MustParseMAC
	var got overlay.State
	m := New(config.ModeOverlay, nil, &target{s: &got})
	ev := overlay.NewState()
	ev.AddFlood(overlay.Flood{VNI: 100, VTEP: dead})
	ev.AddFlood(overlay.Flood{VNI: 100, VTEP: live})
	ev.AddFDB(overlay.FDB{VNI: 100, MAC: mac("02:00:00:00:00:02"), VTEP: dead})
	ev.AddFDB(overlay.FDB{VNI: 100, MAC: mac("02:00:00:00:00:03"), VTEP: live})
	ev.AddNeigh(overlay.Neigh{VNI: 100, IP: netip.MustParseAddr("10.244.2.2"), MAC: mac("02:00:00:00:00:02")})
	m.SetEVPN(ev)
	p := netip.MustParsePrefix
	routes := map[netip.Prefix]overlay.Route{}
	for _, r := range []overlay.Route{
		overlay.NewRoute(p("0.0.0.0/0"), dead, netip.MustParseAddr("10.250.0.9")), // ECMP: loses the dead next hop
		overlay.NewRoute(p("10.244.200.10/32"), dead),                             // the dead host's chained pod: goes
		overlay.NewRoute(p("10.244.4.0/24"), netip.MustParseAddr("10.250.0.4")),   // a routed peer's block: stays
	} {
		routes[r.Dst] = r
	}
	m.SetRoutes(routes)
	full := got.String()
	m.SetMasked(map[netip.Addr]bool{dead: true})
	want := []string{
		"fdb 02:00:00:00:00:03 dev vxlan100 dst 10.250.0.3 self master extern_learn",
		"fdb 00:00:00:00:00:00 dev vxlan100 dst 10.250.0.3 self permanent",
		"neigh 10.244.2.2 lladdr 02:00:00:00:00:02 dev vxbr100 nud noarp extern_learn",
	}
	s := got.String()
	for _, w := range want {
		if !slices.Contains(strings.Split(s, "\n"), w) {
			t.Errorf("masked state lacks %q:\n%s", w, s)
		}
	}
	if strings.Contains(s, "dst 10.250.0.2") || strings.Contains(s, "10.244.200.10") || strings.Contains(s, "via 10.250.0.2") ||
		!strings.Contains(s, "0.0.0.0/0") || !strings.Contains(s, "10.244.4.0/24") {
		t.Errorf("masked state:\n%s", s)
	}
	if len(ev.FDB) != 2 || len(ev.Flood) != 2 {
		t.Errorf("the shared snapshot was modified: %d fdb, %d flood", len(ev.FDB), len(ev.Flood))
	}
	m.SetMasked(nil)
	if got.String() != full {
		t.Errorf("unmasked:\n%s\nwant\n%s", got.String(), full)
	}
}

// target is a Target that keeps the state its Sets and Updates make.
type target struct {
	s    *overlay.State
	sets int
}

func (t *target) Set(s overlay.State)    { *t.s = s; t.sets++ }
func (t *target) Update(d overlay.Delta) { t.s.ApplyDelta(d) }
