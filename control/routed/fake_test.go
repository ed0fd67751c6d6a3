package routed

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

// The routed source against the fake speaker: the blocks under one owner
// and each chained endpoint's host routes under its own, nothing for
// endpoints inside the blocks (and no withdrawal of nothing when they go:
// the fake would fail the test); received path sets become routes, and
// Synced waits for the End-of-RIB of every family of every peer.
func TestSourceAgainstFake(t *testing.T) {
	sp := bgptest.NewFake(t)
	h := &host{}
	c := hostConfig(1)
	c.Logger = bgptest.Logger(t)
	h.src = NewSource(c, sp, h.record)
	mac := overlay.MustParseMAC("02:00:00:00:00:01")
	pod := endpoint.Endpoint{ContainerID: "pod", IfName: "eth0", Network: "pods", MAC: mac, IPs: []netip.Addr{netip.MustParseAddr("10.244.1.5")}}
	ch := endpoint.Endpoint{ContainerID: "ch", IfName: "eth0", Network: "pods", MAC: mac, Chained: true,
		IPs: []netip.Addr{netip.MustParseAddr("10.244.200.10"), netip.MustParseAddr("fd00:10:244:200::10")}}
	h.src.PutEndpoint(pod)
	h.src.PutEndpoint(ch)
	bgptest.Background(t, "watch", func(ctx context.Context) error { return sp.Watch(ctx, h.src.Handler()) })
	bgptest.Background(t, "run", h.src.Run)
	select {
	case <-h.src.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	bgptest.WaitFor(t, "the watch", 5*time.Second, sp.Watching)
	if got, want := strings.Join(sp.Owners(), " "), "routed/blocks routed/host/ch/eth0"; got != want {
		t.Fatalf("owners %q, want %q", got, want)
	}
	if got, want := strings.Join(sp.Table(), " "), "10.244.1.0/24 10.244.200.10/32 fd00:10:244:1::/64 fd00:10:244:200::10/128"; got != want {
		t.Fatalf("table %q, want %q", got, want)
	}
	h.src.DeleteEndpoint(pod.Key())
	h.src.DeleteEndpoint(ch.Key())
	bgptest.WaitFor(t, "the host routes withdrawn", 5*time.Second, func() bool {
		return strings.Join(sp.Owners(), " ") == "routed/blocks"
	})

	peer := "10.0.0.2"
	if err := sp.SetPeers(context.Background(), []bgp.PeerConfig{{Address: peer, ASN: testASN, Families: dualStack}}); err != nil {
		t.Fatal(err)
	}
	sp.DeliverUnicast(netip.MustParsePrefix("10.244.2.0/24"), bgp.UnicastPath{NextHop: netip.MustParseAddr("192.0.2.2"), Peer: peer})
	sp.DeliverUnicast(netip.MustParsePrefix("10.99.0.0/16"), bgp.UnicastPath{NextHop: netip.MustParseAddr("192.0.2.2"), Peer: peer}) // outside
	waitRoutes(t, h, "the peer's block", "10.244.2.0/24 192.0.2.2")
	sp.EOR(bgp.FamilyIPv4, peer)
	select {
	case <-h.src.Synced():
		t.Fatal("synced with the ipv6 End-of-RIB missing")
	case <-time.After(600 * time.Millisecond): // more than a sync check period
	}
	sp.EOR(bgp.FamilyIPv6, peer)
	select {
	case <-h.src.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("not synced after both End-of-RIBs")
	}
	sp.DeliverUnicast(netip.MustParsePrefix("10.244.2.0/24"))
	waitRoutes(t, h, "the withdrawal")
}
