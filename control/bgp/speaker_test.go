package bgp

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
)

const sessionTimeout = 20 * time.Second

// node is a speaker under test with the address its peers dial.
type node struct {
	*Speaker
	ip, rid string
	asn     uint32
	port    int32
}

func newNode(t *testing.T, ip, rid string, imp ...netip.Prefix) node {
	s, port := startSpeaker(t, ip, rid, imp...)
	return node{Speaker: s, ip: ip, rid: rid, asn: testASN, port: port}
}

// newNodeConfig starts a node from c (RouterID and ASN set).
func newNodeConfig(t *testing.T, ip string, c Config) node {
	s, port := startSpeakerConfig(t, ip, c)
	return node{Speaker: s, ip: ip, rid: c.RouterID, asn: c.ASN, port: port}
}

// peerOf is how others configure n.
func (n node) peerOf(from node, families ...string) PeerConfig {
	return PeerConfig{Address: n.ip, ASN: n.asn, Port: uint16(n.port), LocalAddress: from.ip, Families: families}
}

// passive is how a passive n configures from.
func (n node) passive(from node, families ...string) PeerConfig {
	p := from.peerOf(n, families...)
	p.Passive = true
	return p
}

// connect peers a and b; a dials, b is passive (see PeerConfig.Passive).
func connect(t *testing.T, a, b node, families ...string) {
	t.Helper()
	if err := a.SetPeers(context.Background(), []PeerConfig{b.peerOf(a, families...)}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeers(context.Background(), []PeerConfig{b.passive(a, families...)}); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    Config
		want string
	}{
		{"zero asn", Config{RouterID: "10.0.0.1"}, "asn"},
		{"router id not ipv4", Config{ASN: 1, RouterID: "2001:db8::1"}, "router id"},
		{"router id garbage", Config{ASN: 1, RouterID: "a"}, "router id"},
		{"listen address", Config{ASN: 1, RouterID: "10.0.0.1", ListenPort: -1, ListenAddress: "x"}, "listen address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(context.Background(), tt.c)
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
	rb := watch(t, b.Speaker)
	ra := watch(t, a.Speaker)

	pa := imet(t, a.rid, 1, 100, "192.0.2.11")
	pb := imet(t, b.rid, 1, 100, "192.0.2.12")
	if err := a.AddPath(ctx, pa); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPath(ctx, pb); err != nil {
		t.Fatal(err)
	}
	da, db := prefixOf(t, pa), prefixOf(t, pb)
	// Our own paths come through Watch too, marked "<nil>".
	waitFor(t, "local path in A's watch", time.Second, func() bool { _, ok := ra.bestFrom(da); return ok })
	if from, _ := ra.bestFrom(da); from != "<nil>" {
		t.Fatalf("local path from %q, want <nil>", from)
	}

	connect(t, a, b)
	waitFor(t, "A's path at B", sessionTimeout, func() bool { from, _ := rb.bestFrom(da); return from == a.ip })
	waitFor(t, "B's path at A", sessionTimeout, func() bool { from, _ := ra.bestFrom(db); return from == b.ip })
	waitFor(t, "EOR from A", sessionTimeout, func() bool { return rb.has("eor evpn " + a.ip) })
	if !rb.has("peer " + a.ip + " up") {
		t.Fatalf("no peer-up event at B:\n%s", rb.dump())
	}

	ps, err := b.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Address != a.ip || ps[0].State != "established" || ps[0].ASN != testASN || ps[0].Received < 1 || ps[0].Accepted < 1 {
		t.Fatalf("B peers: %+v", ps)
	}
	paths, err := b.ListPaths(ctx, FamilyEVPN)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, prefixOf(t, p)+" from "+p.NeighborIp)
	}
	slices.Sort(got)
	want := []string{da + " from " + a.ip, db + " from <nil>"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("B loc-rib:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := b.ListPaths(ctx, "vpnv4"); err == nil {
		t.Fatal("ListPaths accepted an unknown family")
	}

	// Level-triggered: the same peers again change nothing.
	if err := a.SetPeers(ctx, []PeerConfig{b.peerOf(a)}); err != nil {
		t.Fatal(err)
	}
	if peerState(t, a.Speaker, b.ip) != "established" || rb.has("peer "+a.ip+" down") {
		t.Fatalf("re-applying the same peers reset the session:\n%s", rb.dump())
	}

	if err := a.DeletePath(ctx, pa); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "withdrawal at B", 5*time.Second, func() bool { return rb.has("del " + da + " " + a.ip) })

	// Stop is a hard reset: B drops A's routes at once (no stale phase).
	if err := a.AddPath(ctx, pa); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's path back at B", 5*time.Second, func() bool { _, ok := rb.bestFrom(da); return ok })
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hard reset withdraws at B", 5*time.Second, func() bool { _, ok := rb.bestFrom(da); return !ok })
	waitFor(t, "peer down at B", 5*time.Second, func() bool { return rb.has("peer " + a.ip + " down") })
	if err := a.AddPath(ctx, pa); !errors.Is(err, ErrClosed) {
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
	rb := watch(t, b.Speaker)
	rc := watch(t, c.Speaker)

	evpnA := imet(t, a.rid, 1, 100, "192.0.2.21")
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
	if paths, err := b.ListPaths(ctx, FamilyIPv4); err != nil || len(paths) != 1 {
		t.Fatalf("B's own route not in its loc-rib: %v %v", paths, err)
	}

	connect(t, a, b, FamilyEVPN, FamilyIPv4)
	waitFor(t, "EOR ipv4 from A at B", sessionTimeout, func() bool { return rb.has("eor ipv4 " + a.ip) })
	waitFor(t, "EOR evpn from A at B", sessionTimeout, func() bool { return rb.has("eor evpn " + a.ip) })
	for _, tt := range []struct {
		p    *api.Path
		want bool
	}{{evpnA, true}, {inside, true}, {outside, false}} {
		if _, ok := rb.bestFrom(prefixOf(t, tt.p)); ok != tt.want {
			t.Errorf("%s imported at B: %v, want %v", prefixOf(t, tt.p), ok, tt.want)
		}
	}

	// C peers with B only. Once C has B's EOR it has everything B exports.
	if err := b.SetPeers(ctx, []PeerConfig{b.passive(a, FamilyEVPN, FamilyIPv4), c.peerOf(b, FamilyEVPN, FamilyIPv4)}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPeers(ctx, []PeerConfig{c.passive(b, FamilyEVPN, FamilyIPv4)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "EOR from B at C", sessionTimeout, func() bool {
		return rc.has("eor ipv4 "+b.ip) && rc.has("eor evpn "+b.ip)
	})
	if _, ok := rc.bestFrom(prefixOf(t, localB)); !ok {
		t.Errorf("C lacks B's own route:\n%s", rc.dump())
	}
	for _, p := range []*api.Path{evpnA, inside} {
		if _, ok := rc.bestFrom(prefixOf(t, p)); ok {
			t.Errorf("B re-advertised A's %s to C", prefixOf(t, p))
		}
	}
}

// DeletePath never turns into "withdraw everything", and malformed paths
// are refused before they reach GoBGP's server goroutine.
func TestPathSafety(t *testing.T) {
	ctx := context.Background()
	s, _ := startSpeaker(t, "127.0.0.1", "10.0.0.31")
	keep := imet(t, "10.0.0.31", 1, 100, "192.0.2.31")
	if err := s.AddPath(ctx, keep); err != nil {
		t.Fatal(err)
	}
	evpn, _ := apiFamily(FamilyEVPN)
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
	paths, err := s.ListPaths(ctx, FamilyEVPN)
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
	rb := watch(t, b.Speaker)
	p := imet(t, a.rid, 1, 100, "192.0.2.41")
	if err := a.AddPath(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeers(ctx, []PeerConfig{b.passive(a)}); err != nil {
		t.Fatal(err)
	}
	err := a.SetPeers(ctx, []PeerConfig{b.peerOf(a), {Address: "not-an-ip", ASN: 1}})
	if err == nil || !strings.Contains(err.Error(), "not-an-ip") {
		t.Fatalf("SetPeers with an invalid peer: %v", err)
	}
	waitFor(t, "session", sessionTimeout, func() bool { _, ok := rb.bestFrom(prefixOf(t, p)); return ok })
	if got := a.ConfiguredPeers(FamilyEVPN); !slices.Equal(got, []string{b.ip}) {
		t.Fatalf("ConfiguredPeers: %v", got)
	}
	if got := a.ConfiguredPeers(FamilyIPv4); len(got) != 0 {
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
	changed := b.peerOf(a)
	changed.HoldTime = 30
	if err := a.SetPeers(ctx, []PeerConfig{changed}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reset after hold-time change", sessionTimeout, func() bool { return rb.has("peer " + a.ip + " down") })
	waitFor(t, "re-established", sessionTimeout, func() bool { return rb.count("peer "+a.ip+" up") == 2 })

	// Removing the peer deconfigures it: a Cease, so B withdraws at once.
	if err := a.SetPeers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "withdrawal after removal", 5*time.Second, func() bool { _, ok := rb.bestFrom(prefixOf(t, p)); return !ok })
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
	rb := watch(t, b.Speaker)
	p := imet(t, a.rid, 1, 100, "192.0.2.51")
	if err := a.AddPath(ctx, p); err != nil {
		t.Fatal(err)
	}
	connect(t, a, b)
	waitFor(t, "session", sessionTimeout, func() bool { return rb.has("eor evpn " + a.ip) })

	watchDone := make(chan error, 1)
	go func() { watchDone <- a.Watch(ctx, nil, nil, nil) }()
	a.Close()
	select {
	case err := <-watchDone:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Watch ended by Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
	a.Close() // idempotent
	if err := a.AddPath(ctx, p); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddPath after Close: %v", err)
	}
	if err := a.Watch(ctx, nil, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch after Close: %v", err)
	}
	if st := peerState(t, b.Speaker, a.ip); st != "established" {
		t.Fatalf("B's session after A.Close: %s", st)
	}
	if _, ok := rb.bestFrom(prefixOf(t, p)); !ok || rb.count("peer "+a.ip+" down") != 0 {
		t.Fatalf("B lost A after Close:\n%s", rb.dump())
	}
}
