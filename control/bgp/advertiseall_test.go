package bgp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// AdvertiseAll hands many owners' paths to GoBGP at once, and GoBGP packs
// the paths that share their attributes into few UPDATEs (patched: v3.37.0
// sent one per EVPN path), both ways: 300 type-3 routes, one per owner,
// reach the peer in a handful of UPDATEs and leave it in as few.
func TestAdvertiseAllPacks(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, "127.0.0.81", "10.0.0.81")
	b := newNode(t, "127.0.0.82", "10.0.0.82")
	rb := bgptest.Watch(t, b.Speaker)
	bgptest.Connect(t, a, b)
	bgptest.WaitFor(t, "EOR from A", bgptest.SessionTimeout, func() bool { return rb.Has("eor evpn " + a.IP) })
	before := bgp.UpdatesReceived(t, b.Speaker, a.IP)

	const n = 300
	ads := make([]bgp.Advert, n)
	dests := make([]string, n)
	for i := range ads {
		p := imet(t, a.RouterID, uint16(i+1), 100, "192.0.2.81")
		path, err := bgp.NewPath(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		ads[i] = bgp.Advert{Owner: fmt.Sprintf("o%d", i), Paths: []bgp.Path{path}}
		dests[i] = prefixOf(t, p)
	}
	if err := a.AdvertiseAll(ctx, ads); err != nil {
		t.Fatal(err)
	}
	all := func(want bool) func() bool {
		return func() bool {
			for _, d := range dests {
				if _, ok := rb.BestFrom(d); ok != want {
					return false
				}
			}
			return true
		}
	}
	bgptest.WaitFor(t, "all 300 at B", 10*time.Second, all(true))
	added := bgp.UpdatesReceived(t, b.Speaker, a.IP) - before
	// A type-3 NLRI takes 19 bytes: about 200 fit one UPDATE.
	if added > 10 {
		t.Fatalf("B received %d UPDATEs for %d routes, want them packed", added, n)
	}

	for i := range ads {
		ads[i].Paths = nil
	}
	if err := a.AdvertiseAll(ctx, ads); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "all 300 withdrawn at B", 10*time.Second, all(false))
	if got := bgp.UpdatesReceived(t, b.Speaker, a.IP) - before - added; got > 10 {
		t.Fatalf("B received %d UPDATEs withdrawing %d routes, want them packed", got, n)
	}
	if got := a.Advertised(); len(got) != 0 {
		t.Fatalf("A still advertises %v", got)
	}
}

// A malformed set leaves its owner as it was and the others go ahead.
func TestAdvertiseAllBadOwner(t *testing.T) {
	ctx := context.Background()
	s := newNode(t, "127.0.0.83", "10.0.0.83")
	good := mustUnicast(t, "10.244.1.0/24", "192.0.2.1")
	err := s.AdvertiseAll(ctx, []bgp.Advert{
		{Owner: "bad", Paths: []bgp.Path{good, good}},
		{Owner: "good", Paths: []bgp.Path{good}},
	})
	if err == nil {
		t.Fatal("a destination listed twice was accepted")
	}
	if got := localTable(t, s); got != "10.244.1.0/24 via 192.0.2.1" {
		t.Fatalf("table %q", got)
	}
	if got := s.Advertised(); len(got) != 1 || len(got["good"]) != 1 {
		t.Fatalf("advertised %v", got)
	}
}
