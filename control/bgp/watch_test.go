package bgp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// With Watchers: 2 the first two watches (the agent's EVPN and unicast
// sources) share one GoBGP watcher and each still gets every event; a
// third gets a watcher of its own, with the current table first.
func TestSharedWatch(t *testing.T) {
	pods := netip.MustParsePrefix("10.244.0.0/16")
	a := bgptest.Start(t, "A", "127.0.0.61", bgp.Config{ASN: bgptest.ASN, RouterID: "10.0.0.61", Watchers: 2, ImportUnicast: []netip.Prefix{pods}})
	b := newNode(t, "127.0.0.62", "10.0.0.62")
	all := bgptest.Watch(t, a.Speaker)
	rib := bgptest.WatchUnicast(t, a.Speaker)
	bgptest.Connect(t, a, b, bgp.FamilyIPv4)
	b.Originate(t, "10.244.5.0/24", "127.0.0.62")

	rib.WaitRoutes(t, "A's unicast watch", "10.244.5.0/24 127.0.0.62@127.0.0.62")
	bgptest.WaitFor(t, "A's watch sees B's route", bgptest.SessionTimeout, func() bool {
		peer, ok := all.BestFrom("10.244.5.0/24")
		return ok && peer == "127.0.0.62"
	})
	for _, e := range []*bgptest.Events{&all.Events, &rib.Events} {
		if !e.Has("peer 127.0.0.62 up") {
			t.Errorf("a watch missed the session coming up:\n%s", e.Dump())
		}
	}
	if n := bgp.GoBGPWatchers(a.Speaker); n != 1 {
		t.Fatalf("%d GoBGP watchers for the first two watches, want 1", n)
	}

	late := bgptest.Watch(t, a.Speaker)
	bgptest.WaitFor(t, "a late watch gets the table", bgptest.SessionTimeout, func() bool {
		_, ok := late.BestFrom("10.244.5.0/24")
		return ok
	})
	if n := bgp.GoBGPWatchers(a.Speaker); n != 2 {
		t.Fatalf("%d GoBGP watchers after a third watch, want 2", n)
	}
}

// A shared watcher whose second caller never comes starts anyway.
func TestSharedWatchAlone(t *testing.T) {
	a := bgptest.Start(t, "A", "127.0.0.63", bgp.Config{ASN: bgptest.ASN, RouterID: "10.0.0.63", Watchers: 2})
	a.Originate(t, "10.244.6.0/24", "127.0.0.63")
	start := time.Now()
	r := bgptest.Watch(t, a.Speaker)
	bgptest.WaitFor(t, "the lone watch gets the table", bgptest.SessionTimeout, func() bool {
		_, ok := r.BestFrom("10.244.6.0/24")
		return ok
	})
	t.Logf("lone watch served after %v", time.Since(start).Round(time.Millisecond))
	if n := bgp.GoBGPWatchers(a.Speaker); n != 1 {
		t.Fatalf("%d GoBGP watchers, want 1", n)
	}
}
