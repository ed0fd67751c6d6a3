package bgp_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// Two reflectors that are each other's ordinary iBGP peer, and clients
// of both (the agent's layout, bgp.routeReflector): a client's routes
// reach the other client, and when the client withdraws them they are
// gone from both reflectors and the other client, with each reflector's
// own cluster ID (the default) and with one shared by both. Meanwhile
// the reflectors stop sending each other UPDATEs once converged. Their
// router IDs are below the clients' (the fleet bench's h1 and h2), so
// GoBGP v3.37.0's tie-break on the sender's router ID preferred the
// other reflector's copy of a client route to the client's own: without
// a withdrawal of what it had reflected, the reflectors kept each
// other's copy for good; with it alone they withdrew and re-advertised
// to each other without end (third_party/gobgp PATCHES.md).
func TestReflectorPairWithdraws(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"own cluster IDs", false}, {"shared cluster ID", true}} {
		t.Run(tc.name, func(t *testing.T) {
			base := 160
			if tc.shared {
				base = 170
			}
			testReflectorPair(t, base, tc.shared)
		})
	}
}

func testReflectorPair(t *testing.T, base int, shared bool) {
	ctx := context.Background()
	fam := []string{bgp.FamilyIPv4}
	subnet := netip.MustParsePrefix("10.244.0.0/16")
	addr := func(i int) string { return fmt.Sprintf("127.0.0.%d", base+i) }
	rid := func(i int) string { return fmt.Sprintf("10.0.0.%d", base+i) }
	reflector := func(i int) *bgptest.Speaker {
		return newNodeConfig(t, addr(i), bgp.Config{ASN: bgptest.ASN, RouterID: rid(i), ImportUnicast: []netip.Prefix{subnet}, Reflector: true})
	}
	r1, r2 := reflector(1), reflector(2)
	a := newNode(t, addr(3), rid(3), subnet)
	b := newNode(t, addr(4), rid(4), subnet)
	rb := bgptest.WatchUnicast(t, b.Speaker)
	rr1 := bgptest.WatchUnicast(t, r1.Speaker)
	rr2 := bgptest.WatchUnicast(t, r2.Speaker)

	for _, r := range []*bgptest.Speaker{r1, r2} {
		other := r2
		if r == r2 {
			other = r1
		}
		o := r.PeerConfig(other, fam...)
		o.Passive = r == r2
		ps := []bgp.PeerConfig{o}
		for _, c := range []*bgptest.Speaker{a, b} {
			p := r.PassivePeerConfig(c, fam...)
			p.RRClient, p.ClusterID = true, r.RouterID
			if shared {
				p.ClusterID = "10.0.0.1"
			}
			ps = append(ps, p)
		}
		if err := r.SetPeers(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*bgptest.Speaker{a, b} {
		if err := c.SetPeers(ctx, []bgp.PeerConfig{c.PeerConfig(r1, fam...), c.PeerConfig(r2, fam...)}); err != nil {
			t.Fatal(err)
		}
	}

	const n = 20
	nh := "192.0.2.1"
	var want []string
	for i := range n {
		pfx := fmt.Sprintf("10.244.%d.0/24", 10+i)
		a.Originate(t, pfx, nh)
		want = append(want, pfx+" "+nh+"@"+r1.IP+","+nh+"@"+r2.IP)
	}
	rb.WaitRoutes(t, "B has A's routes through both reflectors", want...)
	quiet(t, "after A announced", r1, r2, b)

	for i := range n {
		if err := a.DeleteUnicast(ctx, netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", 10+i))); err != nil {
			t.Fatal(err)
		}
	}
	rb.WaitRoutes(t, "B after A withdrew")
	rr1.WaitRoutes(t, "R1 after A withdrew")
	rr2.WaitRoutes(t, "R2 after A withdrew")
	quiet(t, "after A withdrew", r1, r2, b)
}

// quiet fails t unless the UPDATEs the reflectors receive from each other
// and B from them stop within a few seconds: converged speakers send none.
func quiet(t *testing.T, when string, r1, r2, b *bgptest.Speaker) {
	t.Helper()
	count := func() [4]uint64 {
		return [4]uint64{
			bgp.UpdatesReceived(t, r1.Speaker, r2.IP), bgp.UpdatesReceived(t, r2.Speaker, r1.IP),
			bgp.UpdatesReceived(t, b.Speaker, r1.IP), bgp.UpdatesReceived(t, b.Speaker, r2.IP),
		}
	}
	last := count()
	for range 10 {
		time.Sleep(time.Second)
		now := count()
		if now == last {
			return
		}
		last = now
	}
	t.Fatalf("%s: UPDATEs still flowing after 10 s (R1 from R2, R2 from R1, B from R1, B from R2: %v)", when, last)
}
