package bgp_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// Two in-cluster reflectors and two clients that peer only with them
// (bgp.mesh off): a client's route reaches the other client through both
// reflectors with its next hop unchanged (iBGP reflection keeps it: the
// VTEP stays the originating host), and when one reflector stops the
// route never goes away — the other reflector's path is the same route.
// A client's own route reflected back (ORIGINATOR_ID = its router ID) is
// dropped on arrival, and a non-client peer is reconfigured as a client
// by re-adding it (GoBGP's UpdatePeer ignores reflection settings).
func TestRouteReflection(t *testing.T) {
	ctx := context.Background()
	fam := []string{bgp.FamilyIPv4}
	subnet := netip.MustParsePrefix("10.244.0.0/16")
	reflector := func(ip, rid string) *bgptest.Speaker {
		t.Helper()
		return newNodeConfig(t, ip, bgp.Config{ASN: bgptest.ASN, RouterID: rid, ImportUnicast: []netip.Prefix{subnet}, Reflector: true})
	}
	r1 := reflector("127.0.0.141", "10.0.0.141")
	r2 := reflector("127.0.0.142", "10.0.0.142")
	// An eBGP uplink of R2: it gets R2's own routes, never reflected ones.
	up := newNodeConfig(t, "127.0.0.145", bgp.Config{ASN: 65001, RouterID: "10.0.0.145", ImportUnicast: []netip.Prefix{subnet}})
	a := newNode(t, "127.0.0.143", "10.0.0.143", subnet)
	b := newNode(t, "127.0.0.144", "10.0.0.144", subnet)
	// GoBGP speakers sharing a process must all exist before any handles
	// routes (bgp.New): the watches come after.
	rup := bgptest.WatchUnicast(t, up.Speaker)
	rb := bgptest.WatchUnicast(t, b.Speaker)
	ra := bgptest.WatchUnicast(t, a.Speaker)

	// A client dials its reflectors (the lower address is passive in the
	// agent; here the clients dial). Each reflector's clusterID is its
	// router ID (the default), so each reflects what the other reflected.
	client := func(s, to *bgptest.Speaker) bgp.PeerConfig {
		p := s.PassivePeerConfig(to, fam...)
		p.RRClient, p.ClusterID = true, s.RouterID
		return p
	}
	for _, r := range []*bgptest.Speaker{r1, r2} {
		other := r2
		if r == r2 {
			other = r1
		}
		// Start with A as a non-client: changed below.
		o := r.PeerConfig(other, fam...)
		o.Passive = r == r2
		ps := []bgp.PeerConfig{r.PassivePeerConfig(a, fam...), client(r, b), o}
		if r == r2 {
			ps = append(ps, r.PeerConfig(up, fam...))
		}
		if err := r.SetPeers(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	if err := up.SetPeers(ctx, []bgp.PeerConfig{up.PassivePeerConfig(r2, fam...)}); err != nil {
		t.Fatal(err)
	}
	r2.Originate(t, "10.244.9.0/24", "192.0.2.142")
	for _, c := range []*bgptest.Speaker{a, b} {
		if err := c.SetPeers(ctx, []bgp.PeerConfig{c.PeerConfig(r1, fam...), c.PeerConfig(r2, fam...)}); err != nil {
			t.Fatal(err)
		}
	}
	a.Originate(t, "10.244.1.0/24", "192.0.2.143")
	b.Originate(t, "10.244.2.0/24", "192.0.2.144")
	// A is no client yet: what it sends still goes to the clients (B).
	rb.WaitRoutes(t, "B sees A's route through both reflectors",
		"10.244.1.0/24 192.0.2.143@127.0.0.141,192.0.2.143@127.0.0.142", "10.244.2.0/24 192.0.2.144@local",
		"10.244.9.0/24 192.0.2.142@127.0.0.141,192.0.2.142@127.0.0.142")

	// A becomes a client of both: the session is re-added, with A's routes
	// kept at B throughout (the other reflector's path stays while one
	// re-peers).
	for _, r := range []*bgptest.Speaker{r1, r2} {
		other := r2
		if r == r2 {
			other = r1
		}
		o := r.PeerConfig(other, fam...)
		o.Passive = r == r2
		ps := []bgp.PeerConfig{client(r, a), client(r, b), o}
		if r == r2 {
			ps = append(ps, r.PeerConfig(up, fam...))
		}
		if err := r.SetPeers(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	ra.WaitRoutes(t, "A sees B's route through both, and not its own reflected back",
		"10.244.1.0/24 192.0.2.143@local", "10.244.2.0/24 192.0.2.144@127.0.0.141,192.0.2.144@127.0.0.142",
		"10.244.9.0/24 192.0.2.142@127.0.0.141,192.0.2.142@127.0.0.142")
	rb.WaitRoutes(t, "B after A became a client",
		"10.244.1.0/24 192.0.2.143@127.0.0.141,192.0.2.143@127.0.0.142", "10.244.2.0/24 192.0.2.144@local",
		"10.244.9.0/24 192.0.2.142@127.0.0.141,192.0.2.142@127.0.0.142")

	// A client withdraws a route: it goes everywhere. Each reflector held
	// it from A and from the other reflector; GoBGP v3.37.0 withdrew
	// neither copy from the other reflector (third_party/gobgp
	// PATCHES.md), so both kept reflecting it to B for good.
	a.Originate(t, "10.244.4.0/24", "192.0.2.143")
	rb.WaitRoutes(t, "B with A's new route",
		"10.244.1.0/24 192.0.2.143@127.0.0.141,192.0.2.143@127.0.0.142", "10.244.2.0/24 192.0.2.144@local",
		"10.244.4.0/24 192.0.2.143@127.0.0.141,192.0.2.143@127.0.0.142",
		"10.244.9.0/24 192.0.2.142@127.0.0.141,192.0.2.142@127.0.0.142")
	if err := a.DeleteUnicast(ctx, netip.MustParsePrefix("10.244.4.0/24")); err != nil {
		t.Fatal(err)
	}
	rb.WaitRoutes(t, "B after A withdrew its new route",
		"10.244.1.0/24 192.0.2.143@127.0.0.141,192.0.2.143@127.0.0.142", "10.244.2.0/24 192.0.2.144@local",
		"10.244.9.0/24 192.0.2.142@127.0.0.141,192.0.2.142@127.0.0.142")

	// One reflector goes: the route stays, with the same next hop. (While
	// A was re-added as a client above, both reflectors dropped its
	// routes for a moment: changing a host's role re-peers it.)
	before := rb.Count("")
	if err := r1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rb.WaitRoutes(t, "B after R1 stopped", "10.244.1.0/24 192.0.2.143@127.0.0.142", "10.244.2.0/24 192.0.2.144@local",
		"10.244.9.0/24 192.0.2.142@127.0.0.142")
	if slices.Contains(rb.Since(before), "route 10.244.1.0/24 0") {
		t.Errorf("A's route was withdrawn at B when R1 stopped: events\n%s", rb.Dump())
	}
	// And R2 alone still reflects a route announced after R1's death.
	a.Originate(t, "10.244.3.0/24", "192.0.2.143")
	rb.WaitRoutes(t, "a new route through R2 alone", "10.244.1.0/24 192.0.2.143@127.0.0.142",
		"10.244.3.0/24 192.0.2.143@127.0.0.142", "10.244.2.0/24 192.0.2.144@local", "10.244.9.0/24 192.0.2.142@127.0.0.142")
	// The uplink has R2's own route and nothing R2 reflected (eBGP
	// rewrites the next hop to R2's address).
	bgptest.WaitFor(t, "EOR from R2 at the uplink", bgptest.SessionTimeout, func() bool { return rup.Has("eor ipv4 " + r2.IP) })
	rup.WaitRoutes(t, "the uplink's routes", "10.244.9.0/24 192.0.2.142@127.0.0.142")
	if strings.Contains(ra.Text(), "192.0.2.143@127") {
		t.Errorf("A holds its own route reflected back:\n%s", ra.Text())
	}
}
