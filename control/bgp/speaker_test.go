package bgp_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/reflect/protoreflect"
	apb "google.golang.org/protobuf/types/known/anypb"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    bgp.Config
		want string
	}{
		{"zero asn", bgp.Config{RouterID: "10.0.0.1"}, "asn"},
		{"router id not ipv4", bgp.Config{ASN: 1, RouterID: "2001:db8::1"}, "router id"},
		{"router id garbage", bgp.Config{ASN: 1, RouterID: "a"}, "router id"},
		{"listen address", bgp.Config{ASN: 1, RouterID: "10.0.0.1", ListenPort: -1, ListenAddress: "x"}, "listen address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := bgp.New(context.Background(), tt.c)
			if err == nil {
				_ = s.Stop(context.Background())
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// The session carries EVPN both ways; Watch reports peer, paths and EOR in
// order; deleting a path withdraws it; Stop withdraws everything at once.
func TestSessionWatchAndPaths(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, "127.0.0.11", "10.0.0.11")
	b := newNode(t, "127.0.0.12", "10.0.0.12")
	rb := bgptest.Watch(t, b.Speaker)
	ra := bgptest.Watch(t, a.Speaker)

	pa := imet(t, a.RouterID, 1, 100, "192.0.2.11")
	pb := imet(t, b.RouterID, 1, 100, "192.0.2.12")
	if err := a.AddPath(ctx, pa); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPath(ctx, pb); err != nil {
		t.Fatal(err)
	}
	da, db := prefixOf(t, pa), prefixOf(t, pb)
	// Our own paths come through Watch too, marked "<nil>".
	bgptest.WaitFor(t, "local path in A's watch", time.Second, func() bool { _, ok := ra.BestFrom(da); return ok })
	if from, _ := ra.BestFrom(da); from != "<nil>" {
		t.Fatalf("local path from %q, want <nil>", from)
	}

	bgptest.Connect(t, a, b)
	bgptest.WaitFor(t, "A's path at B", bgptest.SessionTimeout, func() bool { from, _ := rb.BestFrom(da); return from == a.IP })
	bgptest.WaitFor(t, "B's path at A", bgptest.SessionTimeout, func() bool { from, _ := ra.BestFrom(db); return from == b.IP })
	bgptest.WaitFor(t, "EOR from A", bgptest.SessionTimeout, func() bool { return rb.Has("eor evpn " + a.IP) })
	if !rb.Has("peer " + a.IP + " up") {
		t.Fatalf("no peer-up event at B:\n%s", rb.Dump())
	}

	ps, err := b.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Address.String() != a.IP || !ps[0].Established() || ps[0].ASN != bgptest.ASN || ps[0].Received < 1 || ps[0].Accepted < 1 {
		t.Fatalf("B peers: %+v", ps)
	}
	paths, err := b.ListPaths(ctx, bgp.FamilyEVPN)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, prefixOf(t, p)+" from "+p.NeighborIp)
	}
	slices.Sort(got)
	want := []string{da + " from " + a.IP, db + " from <nil>"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("B loc-rib:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := b.ListPaths(ctx, "vpnv4"); err == nil {
		t.Fatal("ListPaths accepted an unknown family")
	}

	// Level-triggered: the same peers again change nothing.
	if err := a.SetPeers(ctx, []bgp.PeerConfig{a.PeerConfig(b)}); err != nil {
		t.Fatal(err)
	}
	if peerState(t, a.Speaker, b.IP) != "established" || rb.Has("peer "+a.IP+" down") {
		t.Fatalf("re-applying the same peers reset the session:\n%s", rb.Dump())
	}

	if err := a.DeletePath(ctx, pa); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "withdrawal at B", 5*time.Second, func() bool { return rb.Has("del " + da + " " + a.IP) })

	// Stop is a hard reset: B drops A's routes at once (no stale phase).
	if err := a.AddPath(ctx, pa); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "A's path back at B", 5*time.Second, func() bool { _, ok := rb.BestFrom(da); return ok })
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "hard reset withdraws at B", 5*time.Second, func() bool { _, ok := rb.BestFrom(da); return !ok })
	bgptest.WaitFor(t, "peer down at B", 5*time.Second, func() bool { return rb.Has("peer " + a.IP + " down") })
	if err := a.AddPath(ctx, pa); !errors.Is(err, bgp.ErrClosed) {
		t.Fatalf("AddPath after Stop: %v, want ErrClosed", err)
	}
}

// Import accepts local, EVPN and the configured unicast prefixes only;
// export sends local routes only (a host never re-advertises).
func TestPolicies(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, "127.0.0.21", "10.0.0.21")
	b := newNode(t, "127.0.0.22", "10.0.0.22", netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/48"))
	// C would accept A's unicast prefix: if it lacks it, B did not send it.
	c := newNode(t, "127.0.0.23", "10.0.0.23", netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("172.16.0.0/12"))
	rb := bgptest.Watch(t, b.Speaker)
	rc := bgptest.Watch(t, c.Speaker)

	evpnA := imet(t, a.RouterID, 1, 100, "192.0.2.21")
	inside := unicast(t, "10.244.1.0/24", "192.0.2.21")
	outside := unicast(t, "192.168.99.0/24", "192.0.2.21")
	for _, p := range []*api.Path{evpnA, inside, outside} {
		if err := a.AddPath(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// A local route on B passes B's default-reject import (ROUTE_TYPE_LOCAL).
	localB := unicast(t, "172.16.0.0/24", "192.0.2.22")
	if err := b.AddPath(ctx, localB); err != nil {
		t.Fatal(err)
	}
	if paths, err := b.ListPaths(ctx, bgp.FamilyIPv4); err != nil || len(paths) != 1 {
		t.Fatalf("B's own route not in its loc-rib: %v %v", paths, err)
	}

	bgptest.Connect(t, a, b, bgp.FamilyEVPN, bgp.FamilyIPv4)
	bgptest.WaitFor(t, "EOR ipv4 from A at B", bgptest.SessionTimeout, func() bool { return rb.Has("eor ipv4 " + a.IP) })
	bgptest.WaitFor(t, "EOR evpn from A at B", bgptest.SessionTimeout, func() bool { return rb.Has("eor evpn " + a.IP) })
	for _, tt := range []struct {
		p    *api.Path
		want bool
	}{{evpnA, true}, {inside, true}, {outside, false}} {
		if _, ok := rb.BestFrom(prefixOf(t, tt.p)); ok != tt.want {
			t.Errorf("%s imported at B: %v, want %v", prefixOf(t, tt.p), ok, tt.want)
		}
	}

	// C peers with B only. Once C has B's EOR it has everything B exports.
	if err := b.SetPeers(ctx, []bgp.PeerConfig{b.PassivePeerConfig(a, bgp.FamilyEVPN, bgp.FamilyIPv4), b.PeerConfig(c, bgp.FamilyEVPN, bgp.FamilyIPv4)}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPeers(ctx, []bgp.PeerConfig{c.PassivePeerConfig(b, bgp.FamilyEVPN, bgp.FamilyIPv4)}); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "EOR from B at C", bgptest.SessionTimeout, func() bool {
		return rc.Has("eor ipv4 "+b.IP) && rc.Has("eor evpn "+b.IP)
	})
	if _, ok := rc.BestFrom(prefixOf(t, localB)); !ok {
		t.Errorf("C lacks B's own route:\n%s", rc.Dump())
	}
	for _, p := range []*api.Path{evpnA, inside} {
		if _, ok := rc.BestFrom(prefixOf(t, p)); ok {
			t.Errorf("B re-advertised A's %s to C", prefixOf(t, p))
		}
	}
}

// DeletePath never turns into "withdraw everything", and malformed paths
// are refused before they reach GoBGP's server goroutine.
func TestPathSafety(t *testing.T) {
	ctx := context.Background()
	s := newNode(t, "127.0.0.1", "10.0.0.31")
	keep := imet(t, "10.0.0.31", 1, 100, "192.0.2.31")
	if err := s.AddPath(ctx, keep); err != nil {
		t.Fatal(err)
	}
	evpn, _ := bgp.APIFamily(bgp.FamilyEVPN)
	// A type-2 with a nil ESI panics inside apiutil (GOBGP.md 2.5).
	nilESI, err := apb.New(&api.EVPNMACIPAdvertisementRoute{
		Rd:         mustAny(t, &api.RouteDistinguisherIPAddress{Admin: "10.0.0.31", Assigned: 1}),
		MacAddress: "02:00:00:00:00:01", Labels: []uint32{100},
	})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		p    *api.Path
	}{
		{"nil", nil},
		{"no family", &api.Path{Nlri: keep.Nlri, Pattrs: keep.Pattrs}},
		{"no nlri", &api.Path{Family: evpn}},
		{"nil esi", &api.Path{Family: evpn, Nlri: nilESI, Pattrs: keep.Pattrs}},
	}
	for _, tt := range bad {
		if err := s.DeletePath(ctx, tt.p); err == nil {
			t.Errorf("DeletePath(%s) succeeded", tt.name)
		}
		if err := s.AddPath(ctx, tt.p); err == nil {
			t.Errorf("AddPath(%s) succeeded", tt.name)
		}
	}
	paths, err := s.ListPaths(ctx, bgp.FamilyEVPN)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || prefixOf(t, paths[0]) != prefixOf(t, keep) {
		t.Fatalf("local paths after refused deletes: %v", paths)
	}
}

func mustAny(t *testing.T, m interface {
	ProtoReflect() protoreflect.Message
}) *apb.Any {
	t.Helper()
	a, err := apb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// SetPeers adds, updates and removes; invalid entries are reported while
// the valid ones are applied.
func TestSetPeersLevelTriggered(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, "127.0.0.41", "10.0.0.41")
	b := newNode(t, "127.0.0.42", "10.0.0.42")
	rb := bgptest.Watch(t, b.Speaker)
	p := imet(t, a.RouterID, 1, 100, "192.0.2.41")
	if err := a.AddPath(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeers(ctx, []bgp.PeerConfig{b.PassivePeerConfig(a)}); err != nil {
		t.Fatal(err)
	}
	err := a.SetPeers(ctx, []bgp.PeerConfig{a.PeerConfig(b), {Address: "not-an-ip", ASN: 1}})
	if err == nil || !strings.Contains(err.Error(), "not-an-ip") {
		t.Fatalf("SetPeers with an invalid peer: %v", err)
	}
	bgptest.WaitFor(t, "session", bgptest.SessionTimeout, func() bool { _, ok := rb.BestFrom(prefixOf(t, p)); return ok })
	if got := a.ConfiguredPeers(bgp.FamilyEVPN); !slices.Equal(got, []string{b.IP}) {
		t.Fatalf("ConfiguredPeers: %v", got)
	}
	if got := a.ConfiguredPeers(bgp.FamilyIPv4); len(got) != 0 {
		t.Fatalf("ConfiguredPeers(ipv4): %v", got)
	}

	// A hold-time change resets the session so that it takes effect. First
	// a call into B's server loop, after the watcher's reads of A's path:
	// GoBGP's watcher reads the path's source, which is the live peer info
	// that B's FSM rewrites at A's next OPEN (grpc_server.go:188 vs
	// fsm.go:1365), with nothing ordering the two for the race detector.
	if _, err := b.Peers(ctx); err != nil {
		t.Fatal(err)
	}
	changed := a.PeerConfig(b)
	changed.HoldTime = 30
	if err := a.SetPeers(ctx, []bgp.PeerConfig{changed}); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "reset after hold-time change", bgptest.SessionTimeout, func() bool { return rb.Has("peer " + a.IP + " down") })
	bgptest.WaitFor(t, "re-established", bgptest.SessionTimeout, func() bool { return rb.Count("peer "+a.IP+" up") == 2 })
	// B is established once A's KEEPALIVE arrives, A only once B's does.
	// A peer removed in OpenConfirm is dropped without a Cease, which B
	// takes for a graceful restart and keeps the routes stale: wait for A.
	bgptest.WaitFor(t, "established on A", bgptest.SessionTimeout, func() bool { return peerOf(t, a.Speaker, b.IP).Established() })

	// Removing the peer deconfigures it: a Cease, so B withdraws at once.
	if err := a.SetPeers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "withdrawal after removal", 5*time.Second, func() bool { _, ok := rb.BestFrom(prefixOf(t, p)); return !ok })
	if ps, err := a.Peers(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("A still has peers %v (%v)", ps, err)
	}
}

// Close releases the watchers but leaves the sessions up: no NOTIFICATION,
// so that the process exit right after is a bare TCP close for the peers.
func TestCloseLeavesSessionsUp(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, "127.0.0.51", "10.0.0.51")
	b := newNode(t, "127.0.0.52", "10.0.0.52")
	rb := bgptest.Watch(t, b.Speaker)
	p := imet(t, a.RouterID, 1, 100, "192.0.2.51")
	if err := a.AddPath(ctx, p); err != nil {
		t.Fatal(err)
	}
	bgptest.Connect(t, a, b)
	bgptest.WaitFor(t, "session", bgptest.SessionTimeout, func() bool { return rb.Has("eor evpn " + a.IP) })

	watchDone := make(chan error, 1)
	go func() { watchDone <- a.Watch(ctx) }()
	a.Close()
	select {
	case err := <-watchDone:
		if !errors.Is(err, bgp.ErrClosed) {
			t.Fatalf("Watch ended by Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
	a.Close() // idempotent
	if err := a.AddPath(ctx, p); !errors.Is(err, bgp.ErrClosed) {
		t.Fatalf("AddPath after Close: %v", err)
	}
	if err := a.Watch(ctx); !errors.Is(err, bgp.ErrClosed) {
		t.Fatalf("Watch after Close: %v", err)
	}
	if st := peerState(t, b.Speaker, a.IP); st != "established" {
		t.Fatalf("B's session after A.Close: %s", st)
	}
	if _, ok := rb.BestFrom(prefixOf(t, p)); !ok || rb.Count("peer "+a.IP+" down") != 0 {
		t.Fatalf("B lost A after Close:\n%s", rb.Dump())
	}
}
