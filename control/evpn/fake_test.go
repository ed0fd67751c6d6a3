package evpn

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	packet "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/protobuf/proto"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

// fakeHost is a Source over the fake speaker, with its snapshots.
type fakeHost struct {
	src *Source
	sp  *bgptest.Fake

	mu   sync.Mutex
	last overlay.State
}

// runFake builds a Source on a fake speaker, puts eps (as the agent's
// registry does before Run), runs it and the watch, and waits for Ready.
func runFake(t *testing.T, syncTimeout time.Duration, eps ...endpoint.Endpoint) *fakeHost {
	t.Helper()
	h := &fakeHost{sp: bgptest.NewFake(t)}
	h.src = NewSource(Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks(),
		Logger: bgptest.Logger(t), SyncTimeout: syncTimeout}, h.sp, func(d overlay.Delta) {
		h.mu.Lock()
		h.last.ApplyDelta(d)
		h.mu.Unlock()
	})
	for _, e := range eps {
		h.src.PutEndpoint(e)
	}
	bgptest.Background(t, "watch", func(ctx context.Context) error { return h.sp.Watch(ctx, h.src.Handler()) })
	bgptest.Background(t, "run", h.src.Run)
	select {
	case <-h.src.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	bgptest.WaitFor(t, "the watch", 5*time.Second, h.sp.Watching)
	return h
}

func (h *fakeHost) remote() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return remote(h.last)
}

func (h *fakeHost) owners() string { return strings.Join(h.sp.Owners(), " ") }

// The local half against the fake speaker: one owner per endpoint with
// routes, the type-3 routes under their own; chained endpoints and
// endpoints of unknown networks own nothing, and deleting them withdraws
// nothing (the fake fails the test on a withdrawal of what was never
// advertised); a changed endpoint replaces its set.
func TestSourceAdvertisesPerEndpoint(t *testing.T) {
	h := runFake(t, time.Minute,
		ep("a", "pods", "02:00:00:00:00:0a", "10.244.1.10"),
		chained(ep("b", "pods", "02:00:00:00:00:0b", "10.244.200.11")),
		ep("c", "db", "02:00:00:00:00:0c", "10.245.1.12", "fd00::12"),
		ep("d", "nope", "02:00:00:00:00:0d", "10.244.1.13"),
	)
	if got, want := h.owners(), "evpn/endpoint/a/eth0 evpn/endpoint/c/eth0 evpn/type-3"; got != want {
		t.Fatalf("owners after Ready: %q, want %q", got, want)
	}
	table := h.sp.Table()
	for _, want := range []string{
		"[type:macadv][rd:10.0.0.1:1][etag:0][mac:02:00:00:00:00:0a][ip:10.244.1.10]",
		"[type:macadv][rd:10.0.0.1:2][etag:0][mac:02:00:00:00:00:0c][ip:fd00::12]",
		"[type:multicast][rd:10.0.0.1:1][etag:0][ip:192.0.2.1]",
		"[type:multicast][rd:10.0.0.1:2][etag:0][ip:192.0.2.1]",
	} {
		if !slices.Contains(table, want) {
			t.Errorf("table lacks %s:\n%s", want, strings.Join(table, "\n"))
		}
	}
	if len(table) != 5 {
		t.Errorf("%d paths, want 5:\n%s", len(table), strings.Join(table, "\n"))
	}

	h.src.DeleteEndpoint(endpoint.Key{ContainerID: "b", IfName: "eth0"})
	h.src.DeleteEndpoint(endpoint.Key{ContainerID: "d", IfName: "eth0"})
	h.src.PutEndpoint(ep("c", "db", "02:00:00:00:00:0c", "10.245.1.99"))
	h.src.DeleteEndpoint(endpoint.Key{ContainerID: "a", IfName: "eth0"})
	bgptest.WaitFor(t, "a's routes withdrawn, c's replaced", 5*time.Second, func() bool {
		tb := strings.Join(h.sp.Table(), "\n")
		return h.owners() == "evpn/endpoint/c/eth0 evpn/type-3" && strings.Contains(tb, "ip:10.245.1.99") &&
			!strings.Contains(tb, "ip:fd00::12") && !strings.Contains(tb, "mac:02:00:00:00:00:0a")
	})
}

// The received half against the fake speaker: a peer's type-2 and type-3
// become FDB, neighbour and flood entries, a withdrawal removes them, and
// Synced closes on the End-of-RIB of the configured peer.
func TestSourceReceives(t *testing.T) {
	h, peer, vtep, t2 := fakeWithPeer(t)
	t3, err := Type3(64512, netip.MustParseAddr("10.0.0.2"), 1, 100, vtep)
	if err != nil {
		t.Fatal(err)
	}
	t3.NeighborIp = peer
	h.sp.Deliver(t2)
	h.sp.Deliver(t3)
	want := strings.Join(sorted(fdbLine("02:00:00:00:02:01", 100, "192.0.2.2"), neighLine("10.244.2.1", "02:00:00:00:02:01", 100),
		floodLine(100, "192.0.2.2")), "\n")
	bgptest.WaitFor(t, "the peer's routes in the snapshot", 5*time.Second, func() bool { return h.remote() == want })
	select {
	case <-h.src.Synced():
		t.Fatal("synced before the peer's End-of-RIB")
	default:
	}
	h.sp.EOR(bgp.FamilyEVPN, peer)
	select {
	case <-h.src.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("not synced after the End-of-RIB")
	}
	w := proto.Clone(t2).(*api.Path)
	w.IsWithdraw = true
	h.sp.Deliver(w)
	bgptest.WaitFor(t, "the withdrawal", 5*time.Second, func() bool { return h.remote() == floodLine(100, "192.0.2.2") })
}

// A replacement that fails to decode (its NLRI reads, its next hop does
// not) withdraws the route it replaces: the peer no longer means the old
// one (RFC 7606's treat-as-withdraw). Before, the old entries stayed.
func TestMalformedReplacementWithdraws(t *testing.T) {
	h, _, _, t2 := fakeWithPeer(t)
	h.sp.Deliver(t2)
	bgptest.WaitFor(t, "the peer's route in the snapshot", 5*time.Second, func() bool { return h.remote() != "" })
	bad := bgptest.RxOf(t2)
	bad.Attrs = slices.Clone(bad.Attrs)
	for i, a := range bad.Attrs {
		switch a.(type) {
		case *packet.PathAttributeNextHop, *packet.PathAttributeMpReachNLRI:
			bad.Attrs[i] = &packet.PathAttributeNextHop{Value: net.IP{192, 0, 2}} // 3 bytes: no address
		}
	}
	h.sp.DeliverRx(bad)
	bgptest.WaitFor(t, "the replaced route withdrawn", 5*time.Second, func() bool { return h.remote() == "" })
}

// fakeWithPeer runs a source on the fake speaker with one EVPN peer,
// 10.0.0.2 with VTEP 192.0.2.2, and returns a type-2 route from it.
func fakeWithPeer(t *testing.T) (h *fakeHost, peer string, vtep netip.Addr, t2 *api.Path) {
	t.Helper()
	h = runFake(t, time.Minute)
	peer, vtep = "10.0.0.2", netip.MustParseAddr("192.0.2.2")
	if err := h.sp.SetPeers(context.Background(), []bgp.PeerConfig{{Address: peer, ASN: 64512, Families: []string{bgp.FamilyEVPN}}}); err != nil {
		t.Fatal(err)
	}
	t2, err := Type2(64512, netip.MustParseAddr("10.0.0.2"), 1, 100, vtep, overlay.MustParseMAC("02:00:00:00:02:01"), netip.MustParseAddr("10.244.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	t2.NeighborIp = peer
	return h, peer, vtep, t2
}
