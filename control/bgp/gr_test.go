package bgp_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// The graceful-restart test runs speaker A in a child process (this test
// binary, re-executed by bgptest.StartChild), because only a real process
// exit closes the TCP session the way an agent restart does: no
// NOTIFICATION, just FIN.
const (
	childPeer   = "VXBGP_BGP_TEST_PEER"    // B's address and port
	childVNIs   = "VXBGP_BGP_TEST_VNIS"    // type-3 routes A originates, e.g. "100,200"
	childOnTerm = "VXBGP_BGP_TEST_TERM"    // "close" (agent SIGTERM) or "stop"
	childWaits  = "VXBGP_BGP_TEST_PASSIVE" // "1": A waits for B to dial
)

// TestGracefulRestartChild is the child's body; it is skipped in a normal run.
func TestGracefulRestartChild(t *testing.T) {
	bgptest.RunChild(t, runChild)
}

func runChild(ctx context.Context, c bgp.Config) error {
	peerHost, peerPort, err := net.SplitHostPort(os.Getenv(childPeer))
	if err != nil {
		return err
	}
	pport, _ := strconv.Atoi(peerPort)
	c.RouterID = "10.0.0.62"
	s, err := bgp.New(ctx, c)
	if err != nil {
		return err
	}
	for _, v := range strings.Split(os.Getenv(childVNIs), ",") {
		vni, _ := strconv.Atoi(v)
		if err := s.AddPath(ctx, imet(childTB{}, "10.0.0.62", uint16(vni), uint32(vni), "192.0.2.62")); err != nil {
			return err
		}
	}
	// The routes are in the RIB before the first session can come up.
	if err := s.SetPeers(ctx, []bgp.PeerConfig{{Address: peerHost, ASN: bgptest.ASN, Port: uint16(pport), LocalAddress: c.ListenAddress,
		Passive: os.Getenv(childWaits) == "1"}}); err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	if os.Getenv(childOnTerm) == "stop" {
		return s.Stop(context.Background())
	}
	s.Close() // what vxbgpd does on SIGTERM; the exit closes the sockets
	return nil
}

// childTB lets the child reuse the path builders, which only call Fatal on
// programming errors.
type childTB struct{ testing.TB }

func (childTB) Helper()                   {}
func (childTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (childTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// startChild starts speaker A, which peers with B at peer, listens at
// addr, originates type-3 routes for vnis and does onTerm on SIGTERM.
func startChild(t *testing.T, peer, addr, vnis, onTerm string) *bgptest.Child {
	t.Helper()
	return bgptest.StartChild(t, "TestGracefulRestartChild", bgptest.ChildOptions{Name: vnis, Listen: addr,
		Env: []string{childPeer + "=" + peer, childVNIs + "=" + vnis, childOnTerm + "=" + onTerm}})
}

// An agent restart (SIGTERM: Close, then exit) keeps its routes at the
// peer, marked stale and never withdrawn; the restarted agent's OPEN
// carries the R and F bits; after its End-of-RIB the peer withdraws only
// what it did not send again. A hard Stop withdraws at once.
func TestGracefulRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a BGP speaker process twice (~15 s)")
	}
	ctx := context.Background()
	b := newNode(t, "127.0.0.61", "10.0.0.61")
	rb := bgptest.Watch(t, b.Speaker)
	const aIP = "127.0.0.62"
	aPort := bgptest.FreePort(t, aIP)
	// A dials, B is passive. (The other way round is faster — B idles 5 s
	// after the loss, then dials the new A — but then B's FSM never hears
	// from B's server loop, and the race detector flags GoBGP's
	// unsynchronised read of a path's source in ListPath, server.go:2902,
	// against the FSM's write of the same peer info at A's next OPEN.)
	if err := b.SetPeers(ctx, []bgp.PeerConfig{{Address: aIP, ASN: bgptest.ASN, Port: uint16(aPort), LocalAddress: b.IP, Passive: true}}); err != nil {
		t.Fatal(err)
	}
	peer := net.JoinHostPort(b.IP, strconv.Itoa(int(b.Port)))
	addr := net.JoinHostPort(aIP, strconv.Itoa(int(aPort)))
	r100 := prefixOf(t, imet(t, "10.0.0.62", 100, 100, "192.0.2.62"))
	r200 := prefixOf(t, imet(t, "10.0.0.62", 200, 200, "192.0.2.62"))

	a1 := startChild(t, peer, addr, "100,200", "close")
	bgptest.WaitFor(t, "A's routes and EOR at B", bgptest.SessionTimeout, func() bool {
		_, ok1 := rb.BestFrom(r100)
		_, ok2 := rb.BestFrom(r200)
		return ok1 && ok2 && rb.Has("eor evpn "+aIP)
	})
	// GRCapability is a call into B's server loop after the watcher's reads
	// of A's paths: it orders them before the server's MarkStale, which the
	// race detector would otherwise flag (a GoBGP v3.37.0 race: toPathApi,
	// grpc_server.go:178, reads the stale flag on the watcher goroutine).
	// First start: LocalRestarting is set too (we cannot tell a first
	// start from a restart, and peers with nothing stale ignore it).
	if gr := bgp.GRCapability(t, b.Speaker, aIP); gr == nil || gr.Flags&0x08 == 0 || len(gr.Tuples) != 1 || gr.Tuples[0].Flags&0x80 == 0 {
		t.Fatalf("A's GR capability %v: want R bit and F bit for evpn", gr)
	}

	a1.Terminate(t)
	bgptest.WaitFor(t, "B notices the session loss", bgptest.SessionTimeout, func() bool { return rb.Has("peer " + aIP + " down") })
	paths, err := b.ListPaths(ctx, bgp.FamilyEVPN)
	if err != nil {
		t.Fatal(err)
	}
	stale := map[string]bool{}
	for _, p := range paths {
		stale[prefixOf(t, p)] = p.Stale
	}
	if !stale[r100] || !stale[r200] {
		t.Fatalf("after A's exit B holds %v, want both routes stale\n%s", stale, rb.Dump())
	}
	if n := rb.Count("del "); n != 0 {
		t.Fatalf("B withdrew %d routes during A's restart:\n%s", n, rb.Dump())
	}
	// Orders the reads above before the FSM's writes at A's next OPEN (the
	// accepted connection reaches the FSM through B's server loop).
	if _, err := b.Peers(ctx); err != nil {
		t.Fatal(err)
	}

	// The restarted A no longer has VNI 200.
	a2 := startChild(t, peer, addr, "100", "stop")
	bgptest.WaitFor(t, "A back with EOR", 30*time.Second, func() bool { return rb.Count("eor evpn "+aIP) == 2 })
	bgptest.WaitFor(t, "route 200 withdrawn after EOR", 5*time.Second, func() bool { return rb.Has("del " + r200 + " " + aIP) })
	if rb.Has("del " + r100 + " " + aIP) {
		t.Fatalf("route 100 was withdrawn across the restart:\n%s", rb.Dump())
	}
	paths, err = b.ListPaths(ctx, bgp.FamilyEVPN)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || prefixOf(t, paths[0]) != r100 || paths[0].Stale {
		t.Fatalf("B's table after A's EOR: %v", paths)
	}

	// Stop is a hard reset: no stale phase.
	a2.Terminate(t)
	bgptest.WaitFor(t, "route 100 withdrawn after Stop", 5*time.Second, func() bool { return rb.Has("del " + r100 + " " + aIP) })
}
