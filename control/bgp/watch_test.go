package bgp_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// One Watch feeds every handler from one GoBGP watcher (GoBGP encodes each
// path once per watcher): a path handler and a unicast handler both see
// the peer's route, the session and its End-of-RIB.
func TestWatchFeedsEveryHandler(t *testing.T) {
	pods := netip.MustParsePrefix("10.244.0.0/16")
	a := bgptest.Start(t, "A", "127.0.0.61", bgp.Config{ASN: bgptest.ASN, RouterID: "10.0.0.61", ImportUnicast: []netip.Prefix{pods}})
	b := newNode(t, "127.0.0.62", "10.0.0.62")

	var (
		mu      sync.Mutex
		paths   = map[string]string{} // NLRI text -> peer
		unicast = map[netip.Prefix][]bgp.UnicastPath{}
		events  = map[string]int{}
	)
	count := func(e string) { mu.Lock(); events[e]++; mu.Unlock() }
	h1 := bgp.Handler{
		Path: func(p *api.Path) {
			mu.Lock()
			defer mu.Unlock()
			paths[prefixOf(t, p)] = p.NeighborIp
		},
		Peer: func(peer string, up bool) {
			if up {
				count("h1 up " + peer)
			}
		},
	}
	h2 := bgp.Handler{
		Unicast: func(pfx netip.Prefix, ps []bgp.UnicastPath) {
			mu.Lock()
			defer mu.Unlock()
			unicast[pfx] = ps
		},
		EOR: func(family, peer string) { count("h2 eor " + family + " " + peer) },
		Peer: func(peer string, up bool) {
			if up {
				count("h2 up " + peer)
			}
		},
	}
	bgptest.Background(t, "watch", func(ctx context.Context) error {
		if err := a.Watch(ctx, h1, h2); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
	bgptest.Connect(t, a, b, bgp.FamilyIPv4)
	b.Originate(t, "10.244.5.0/24", "127.0.0.62")

	want := netip.MustParsePrefix("10.244.5.0/24")
	bgptest.WaitFor(t, "both handlers see B's route and session", bgptest.SessionTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		u := unicast[want]
		return paths["10.244.5.0/24"] == "127.0.0.62" && len(u) == 1 && u[0].Peer == "127.0.0.62" &&
			events["h1 up 127.0.0.62"] == 1 && events["h2 up 127.0.0.62"] == 1 && events["h2 eor ipv4 127.0.0.62"] == 1
	})
	if n := bgp.GoBGPWatchers(a.Speaker); n != 1 {
		t.Fatalf("%d GoBGP watchers for one Watch with two handlers, want 1", n)
	}
}
