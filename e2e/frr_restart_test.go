package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestFRRRestartsGracefully: FRR is the one restarting. A
// routed host peers eBGP with an FRR router configured for graceful
// restart with preserved forwarding state; a pod pings the server behind
// the router every 100 ms while the router's bgpd is killed (SIGKILL) and
// started again, zebra staying up. We are the helper: our kernel keeps the
// route to the server's subnet while bgpd is gone, the router's kernel
// keeps the route to our block (zebra keeps bgpd's routes as stale), and
// no ping is lost; after the session is back both routes are still there
// and FRR has our block again from the new session.
//
// Why zebra keeps the routes: bgpd configured for graceful restart
// registers it with zebra, and when bgpd dies zebra logs that the bgp
// client shut down but removes none of its routes (for the vnc client, in
// the same log: "disconnected 0 vnc routes removed from the rib"); the
// route to our block stays in the kernel with the same nexthop group, and
// the restarted bgpd replaces it. No zebra option (-K, -r) is involved:
// those are for zebra's own restart.
//
// The same test without graceful restart on the router (tried by hand)
// loses 31 of 61 pings: both sides drop the routes at once, and FRR puts
// them back only after the new session's updates.
func TestFRRRestartsGracefully(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{
		Hosts: 1, Mode: modeRouted, NoMesh: true,
		HostASN: func(int) uint32 { return 64601 },
		Routers: []lab.RouterSpec{{
			ASN: 65000, Networks: []string{torServerNet}, Server: torServerAddr, GracefulRestart: true,
		}},
		Configure: func(h *lab.Host, c *lab.HostConfig) { c.BGP.ImportPrefixes = []string{torServerNet} },
	})
	h, r := l.Host(1), l.Routers[0]
	addPods(t, ctx, l, 1)
	pod := l.Pods()[0]
	if _, err := l.WaitAllPeers(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := waitGateways(ctx, h, torServerNet, []string{r.Addr}); err != nil {
		t.Fatal(err)
	}
	must(t, waitKernelRoute(ctx, r.NS, h.Block(), true))

	ping, err := lab.StartLossPing(ctx, pod.NS, r.ServerIP, 100*time.Millisecond, 2*time.Minute)
	must(t, err)
	defer ping.Stop()
	must(t, ping.WaitReplies(ctx, 10))

	down := time.Now()
	must(t, r.StopBGPD(ctx, true))
	// bgpd stays down for 2 s: long enough for both sides to notice
	// (our side sees the TCP reset at once), while both kernels keep
	// their routes.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		checkRoutesKept(t, ctx, h, r)
	}
	must(t, r.StartBGPD(ctx))
	must(t, r.WaitEstablished(ctx, h.Addr))
	t.Logf("TIMING: FRR bgpd killed -> session back %v (bgpd down 2 s)", time.Since(down).Round(time.Millisecond))
	// FRR's restart completes on our End-of-RIB; give it and zebra's
	// sweep of stale routes time, pinging all along.
	must(t, lab.Eventually(ctx, "FRR to reinstall our block from the new session", 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		table, err := r.Table(ctx)
		if err != nil {
			return false, err
		}
		for _, p := range table[h.Block()] {
			if p.PeerID == h.Addr && p.Valid {
				return true, nil
			}
		}
		return false, nil
	}))
	time.Sleep(3 * time.Second)
	checkRoutesKept(t, ctx, h, r)
	st, err := ping.Stop()
	must(t, err)
	t.Logf("ping %s -> FRR's server %s across bgpd's kill and restart: %d sent, %d received, lost %+v (bgpd killed at %s)",
		pod.Name, r.ServerIP, st.Transmitted, st.Received, st.Windows, down.Format("15:04:05.000"))
	if st.Lost() != 0 {
		t.Errorf("%d of %d pings lost while FRR's bgpd restarted", st.Lost(), st.Transmitted)
	}
}

// checkRoutesKept: h's agent route to the server's subnet via the router,
// and the router's kernel route to h's block.
func checkRoutesKept(t *testing.T, ctx context.Context, h *lab.Host, r *lab.Router) {
	t.Helper()
	routes, err := lab.AgentRoutes(ctx, h.NS)
	must(t, err)
	if rt, ok := lab.FindRoute(routes, torServerNet); !ok || len(rt.Gateways()) != 1 || rt.Gateways()[0] != r.Addr {
		t.Errorf("%s: agent route to %s via %s gone: %v", h.Name, torServerNet, r.Addr, routes)
	}
	if err := waitKernelRoute(ctx, r.NS, h.Block(), false); err != nil {
		t.Error(err)
	}
}

// waitKernelRoute checks that ns's kernel has a route to dst; with wait,
// waits up to 30 s for it.
func waitKernelRoute(ctx context.Context, ns, dst string, wait bool) error {
	check := func(ctx context.Context) (bool, error) {
		out, err := lab.IP(ctx, ns, "-4", "route", "show", dst)
		if err != nil {
			return false, err
		}
		if strings.TrimSpace(out) == "" {
			return false, errNoRoute{ns, dst}
		}
		return true, nil
	}
	if !wait {
		_, err := check(ctx)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return lab.Eventually(ctx, ns+" route "+dst, 100*time.Millisecond, check)
}

type errNoRoute struct{ ns, dst string }

func (e errNoRoute) Error() string { return e.ns + ": no kernel route to " + e.dst }
