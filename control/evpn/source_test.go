package evpn

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/endpoint"
)

// Three hosts in a full mesh: endpoints on A show up in B's published
// state and go away with them; a MAC moving from A to C follows the
// mobility sequence; IPs outside the subnet get no neighbour; VNIs B does
// not have are ignored; Synced closes on End-of-RIB; a hard stop of A
// withdraws its routes.
func TestOverlay(t *testing.T) {
	const (
		vA, vB, vC = "192.0.2.1", "192.0.2.2", "192.0.2.3"
		m1, m2, m3 = "02:aa:00:00:00:01", "02:aa:00:00:00:02", "02:aa:00:00:00:03"
		m4, m5     = "02:aa:00:00:00:04", "02:aa:00:00:00:05"
	)
	long := hostOpts{syncTimeout: time.Minute} // only End-of-RIB may close Synced
	oa := hostOpts{syncTimeout: time.Minute, vnis: []uint32{100, 200, 300}}
	a := newHost(t, "A", "127.0.0.101", "10.0.0.101", vA)
	b := newHost(t, "B", "127.0.0.102", "10.0.0.102", vB)
	c := newHost(t, "C", "127.0.0.103", "10.0.0.103", vC)
	a.run(t, oa)
	b.run(t, long)
	c.run(t, long)

	epsA := []endpoint.Endpoint{
		ep("e1", "net100", m1, "10.244.1.1"),
		ep("e2", "net200", m2),                // MAC-only
		ep("e3", "net100", m3, "192.168.5.5"), // outside 10.244.0.0/16
		ep("e4", "net300", m4, "10.246.0.4"),  // B and C have no VNI 300
		ep("e9", "nope", "02:aa:00:00:00:09"), // unknown network: ignored
	}
	setEndpoints(a.src, epsA...)
	start := time.Now()
	mesh(t, a, b, c)

	base := []string{floodLine(100, vA), floodLine(200, vA), floodLine(100, vC), floodLine(200, vC)}
	wantB := sorted(append(slices.Clone(base),
		fdbLine(m1, 100, vA), neighLine("10.244.1.1", m1, 100),
		fdbLine(m2, 200, vA),
		fdbLine(m3, 100, vA), // the MAC applies, the outside IP does not
	)...)
	waitRemote(t, b, wantB, sessionTimeout)
	select {
	case <-b.src.Synced():
		t.Logf("B synced by End-of-RIB %v after the peers were configured", time.Since(start).Round(time.Millisecond))
	case <-time.After(sessionTimeout):
		t.Fatal("B's Synced did not close after End-of-RIB from A and C")
	}
	if len(b.state().Devices) != 2 {
		t.Fatalf("B devices: %v", b.state().Devices)
	}

	// A lone change, end to end: PutEndpoint on A to snapshot on B.
	epsA = append(epsA, ep("e5", "net100", m5, "10.244.1.5"))
	t0 := time.Now()
	a.src.PutEndpoint(epsA[len(epsA)-1])
	wantB = sorted(append(wantB, fdbLine(m5, 100, vA), neighLine("10.244.1.5", m5, 100))...)
	waitRemote(t, b, wantB, 5*time.Second)
	t.Logf("one endpoint: A PutEndpoint -> B snapshot in %v", time.Since(t0).Round(10*time.Microsecond))

	// Removing an endpoint removes its entries.
	epsA = slices.DeleteFunc(slices.Clone(epsA), func(e endpoint.Endpoint) bool { return e.ContainerID == "e1" })
	setEndpoints(a.src, epsA...)
	wantB = slices.DeleteFunc(slices.Clone(wantB), func(l string) bool { return strings.Contains(l, m1) })
	waitRemote(t, b, wantB, 5*time.Second)

	// m5 moves to C while A still announces it. C's speaker knows A's
	// route, so it stamps sequence 1: C wins although A's VTEP is lower.
	bgptest.WaitFor(t, "C knows A's m5", 5*time.Second, func() bool { return hasRoute(c.src.Routes(), m5, a.IP) })
	c.src.PutEndpoint(ep("e5", "net100", m5, "10.244.1.5"))
	moved := slices.Clone(wantB)
	moved[slices.Index(moved, fdbLine(m5, 100, vA))] = fdbLine(m5, 100, vC)
	moved = sorted(moved...)
	waitRemote(t, b, moved, 5*time.Second)
	// ... and A, which sees C's claim too, points the MAC at C.
	bgptest.WaitFor(t, "A follows the move", 5*time.Second, func() bool { return strings.Contains(a.remote(), fdbLine(m5, 100, vC)) })
	// A's withdrawal then changes nothing for the MAC.
	epsA = slices.DeleteFunc(slices.Clone(epsA), func(e endpoint.Endpoint) bool { return e.ContainerID == "e5" })
	setEndpoints(a.src, epsA...)
	bgptest.WaitFor(t, "A's m5 withdrawn at B", 5*time.Second, func() bool { return !hasRoute(b.src.Routes(), m5, a.IP) })
	if got := b.remote(); got != strings.Join(moved, "\n") {
		t.Fatalf("B after A's withdrawal:\n%s\nwant\n%s", got, strings.Join(moved, "\n"))
	}

	// Routes: ours and what we received, the ignored VNI 300 included.
	rs := b.src.Routes()
	if !slices.ContainsFunc(rs, func(r Route) bool {
		return r.Kind == RouteType3 && r.Peer == "" && slices.Equal(r.VNIs, []uint32{100}) && r.Originator.String() == vB
	}) ||
		!slices.ContainsFunc(rs, func(r Route) bool {
			return r.Kind == RouteType2 && r.Peer == a.IP && r.MAC.String() == m4 && slices.Equal(r.VNIs, []uint32{300})
		}) ||
		!slices.ContainsFunc(rs, func(r Route) bool {
			return r.Kind == RouteType2 && r.MAC.String() == m2 && !r.IP.IsValid() && r.NextHop.String() == vA
		}) {
		t.Fatalf("B routes: %+v", rs)
	}

	// A hard stop (no graceful restart) withdraws everything of A's.
	a.stop()
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitRemote(t, b, sorted(floodLine(100, vC), floodLine(200, vC), fdbLine(m5, 100, vC), neighLine("10.244.1.5", m5, 100)), 5*time.Second)
}

func hasRoute(rs []Route, mac, peer string) bool {
	return slices.ContainsFunc(rs, func(r Route) bool { return r.MAC.String() == mac && r.Peer == peer })
}

// Synced waits for every configured EVPN peer; without one only the
// timeout closes it, so that a restarted agent keeps its kernel state.
func TestSyncedTimeout(t *testing.T) {
	for _, tt := range []struct {
		name  string
		peers bool
	}{{"no peers", false}, {"peer down", true}} {
		t.Run(tt.name, func(t *testing.T) {
			o := hostOpts{syncTimeout: 300 * time.Millisecond}
			// Before the loop starts: its timeout counts from its start,
			// so Synced closing after less than 200 ms from here is early
			// whatever the set-up below costs.
			t0 := time.Now()
			h := newHost(t, "S", "127.0.0.104", "10.0.0.104", "192.0.2.4").run(t, o)
			<-h.src.Ready()
			if tt.peers {
				if err := h.SetPeers(context.Background(), []bgp.PeerConfig{{Address: "127.0.0.105", ASN: testASN, Port: uint16(bgptest.FreePort(t, "127.0.0.105"))}}); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-h.src.Synced():
				if waited := time.Since(t0); waited < 200*time.Millisecond {
					t.Fatalf("Synced closed after %v, before the timeout", waited)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Synced never closed")
			}
		})
	}
}

// Ready closes once the type-3 routes and the routes of the endpoints put
// before Run are in the speaker's table.
func TestReady(t *testing.T) {
	h := newHost(t, "R", "127.0.0.106", "10.0.0.106", "192.0.2.6")
	h.src = nil
	h.run(t, hostOpts{beforeRun: func(s *Source) { s.PutEndpoint(ep("e1", "net100", "02:bb:00:00:00:01", "10.244.2.1")) }})
	bgptest.WaitFor(t, "first snapshot (devices)", 5*time.Second, func() bool { return h.published() > 0 })
	if len(h.state().Devices) != 2 {
		t.Fatalf("devices %v", h.state().Devices)
	}
	select {
	case <-h.src.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	if err := h.WaitAdvertised(context.Background()); err != nil {
		t.Fatal(err)
	}
	paths, err := h.ListPaths(context.Background(), bgp.FamilyEVPN)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 { // two type-3, one type-2
		t.Fatalf("%d local paths, want 3", len(paths))
	}
}
