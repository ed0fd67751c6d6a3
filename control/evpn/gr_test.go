package evpn

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/overlay"
)

// The restart test runs agent A (speaker and Source) in a child process,
// this test binary re-executed by bgptest.StartChild, and stops it the way
// vxbgpd does on SIGTERM: cancel the Source, Close the speaker, exit. Only
// a real exit closes the BGP session without a NOTIFICATION.
const (
	childPeer = "VXBGP_EVPN_TEST_PEER" // B's address
	childEPs  = "VXBGP_EVPN_TEST_EPS"  // A's endpoints, JSON
	childVTEP = "192.0.2.11"
)

func TestRestartChild(t *testing.T) {
	bgptest.RunChild(t, runChild)
}

func runChild(ctx context.Context, c bgp.Config) error {
	var eps []localapi.Endpoint
	if err := json.Unmarshal([]byte(os.Getenv(childEPs)), &eps); err != nil {
		return err
	}
	c.RouterID = "10.0.0.111"
	sp, err := bgp.New(ctx, c)
	if err != nil {
		return err
	}
	vtep := netip.MustParseAddr(childVTEP)
	src := NewSource(Config{ASN: testASN, RouterID: netip.MustParseAddr("10.0.0.111"), VTEP: vtep,
		Networks: hostNetworks(vtep, 100, 200), Logger: c.Logger}, sp, func(overlay.Delta) {})
	// The agent's start-up order: endpoints, Run, Ready, then peers.
	for _, e := range eps {
		ep, err := e.Parse()
		if err != nil {
			return err
		}
		src.PutEndpoint(ep)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	go func() { done <- src.Run(runCtx) }()
	go func() { done <- sp.Watch(runCtx, src.Handler()) }()
	<-src.Ready()
	if err := sp.WaitAdvertised(ctx); err != nil {
		return err
	}
	if err := sp.SetPeers(ctx, []bgp.PeerConfig{{Address: os.Getenv(childPeer), ASN: testASN, LocalAddress: c.ListenAddress, Passive: true}}); err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			return err
		}
	}
	sp.Close()
	return nil
}

// startChild starts agent A; fence runs before the child is killed in
// cleanup (see TestAgentRestartKeepsState).
func startChild(t *testing.T, peer, addr string, eps []localapi.Endpoint, fence func()) *bgptest.Child {
	t.Helper()
	js, err := json.Marshal(eps)
	if err != nil {
		t.Fatal(err)
	}
	return bgptest.StartChild(t, "TestRestartChild", bgptest.ChildOptions{Listen: addr,
		Env:        []string{childPeer + "=" + peer, childEPs + "=" + string(js)},
		BeforeKill: fence,
	})
}

// An agent restart loses nothing at its peers: B's published state keeps
// every entry of A's while A is gone and while it comes back, and only
// what the restarted A no longer has is removed, after its End-of-RIB.
func TestAgentRestartKeepsState(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts an agent process (~10 s)")
	}
	const aIP = "127.0.0.111"
	b := newHost(t, "B", "127.0.0.112", "10.0.0.112", "192.0.2.12").run(t, hostOpts{})
	aPort := bgptest.FreePort(t, aIP)
	// B dials; A is passive (bgp.PeerConfig.Passive).
	if err := b.SetPeers(context.Background(), []bgp.PeerConfig{{Address: aIP, ASN: testASN, Port: uint16(aPort), LocalAddress: b.IP}}); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(aIP, strconv.Itoa(int(aPort)))
	const m1, m2 = "02:cc:00:00:00:01", "02:cc:00:00:00:02"
	e1 := ep("e1", "net100", m1, "10.244.3.1")
	e2 := ep("e2", "net200", m2)
	kept := []string{floodLine(100, childVTEP), floodLine(200, childVTEP), fdbLine(m1, 100, childVTEP), neighLine("10.244.3.1", m1, 100)}

	// GoBGP v3.37.0 race: its watcher goroutine reads a path's stale flag
	// (toPathApi, grpc_server.go:178) that the server goroutine sets later
	// (MarkStale, table/path.go:396) with no synchronisation between them.
	// Harmless, but the race detector flags it unless something orders the
	// two. fence does: the snapshots we have seen (so the watcher's reads
	// are behind us) and then a call into B's server loop, before A exits.
	fence := func() {
		_ = b.remote()
		_, _ = b.Peers(context.Background())
	}
	a1 := startChild(t, b.IP, addr, []localapi.Endpoint{localapi.FromEndpoint(e1), localapi.FromEndpoint(e2)}, fence)
	waitRemote(t, b, sorted(append(kept, fdbLine(m2, 200, childVTEP))...), sessionTimeout)
	from := b.published() - 1

	fence()
	t0 := time.Now()
	a1.Terminate(t)
	bgptest.WaitFor(t, "B notices A's exit", sessionTimeout, func() bool {
		ps, err := b.Peers(context.Background())
		return err == nil && len(ps) == 1 && !ps[0].Established()
	})
	a2 := startChild(t, b.IP, addr, []localapi.Endpoint{localapi.FromEndpoint(e1)}, fence)
	waitRemote(t, b, sorted(kept...), 30*time.Second)
	t.Logf("A restarted and in sync at B %v after SIGTERM", time.Since(t0).Round(time.Millisecond))

	states := b.statesSince(from)
	for i, st := range states {
		r := remote(st)
		for _, l := range kept {
			if !strings.Contains(r, l) {
				t.Fatalf("state %d of %d during the restart lacks %q:\n%s", i, len(states), l, r)
			}
		}
		if last := i == len(states)-1; strings.Contains(r, m2) == last {
			t.Fatalf("state %d of %d: m2 present=%v; want it kept until A's End-of-RIB, then gone:\n%s", i, len(states), !last, r)
		}
	}
	fence()
	a2.Terminate(t)
}
