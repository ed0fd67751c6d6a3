package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// TestFRRRouteReflector: three hosts with no peering between them
// (bgp.peers holds only the router) are route-reflector clients of one
// FRR router in their AS (`neighbor X route-reflector-client` in ipv4
// unicast and l2vpn evpn). Each host has exactly one BGP session, and
// every pod reaches every other: the routes reflected by FRR keep their
// next hop (the originating host's VTEP, or in routed mode the host
// holding the block).
func TestFRRRouteReflector(t *testing.T) {
	for _, mode := range []string{modeOverlay, modeRouted} {
		t.Run(mode, func(t *testing.T) {
			nstest.RequireTool(t, "vtysh")
			ctx := testCtx(t, 4*time.Minute)
			start := time.Now()
			l := newLab(t, ctx, lab.Options{
				Hosts: 3, Mode: mode, NoMesh: true,
				Routers: []lab.RouterSpec{{ASN: lab.ASN, Reflector: true}},
			})
			pods := addPods(t, ctx, l, 1)
			if mode == modeRouted {
				convergeRouted(t, ctx, l)
			} else {
				converge(t, ctx, l)
			}
			t.Logf("TIMING: 3 hosts through an FRR route reflector (%s): converged %v after the lab started", mode, time.Since(start).Round(time.Millisecond))
			r := l.Routers[0]
			for _, h := range l.Hosts {
				checkSessions(t, ctx, h, r.Addr)
			}
			pingEveryPair(t, ctx, lab.PodEndpoints(pods), 6, "through an FRR route reflector, "+mode)
		})
	}
}

// TestInClusterRouteReflectors: five hosts found by discovery; h1 and h2
// are route reflectors (bgp.routeReflector.enabled), h3..h5 are clients
// (bgp.mesh: false). Each client has exactly two sessions, to h1 and h2;
// each reflector has four (its three clients and the other reflector).
// Every pod reaches every other. Then h2 is powered off while a 100 ms
// ping runs between the pods of h3 and h4, both ways: it loses nothing
// (the routes h2 reflected are known through h1 with the same next hop,
// and the mask takes out h2's own entries only), and neither client's
// kernel deletes the other's FDB entry (routed: block route). A pod
// created on h5 after the death reaches h3's pod through h1 alone. Both
// modes.
func TestInClusterRouteReflectors(t *testing.T) {
	for _, mode := range []string{modeOverlay, modeRouted} {
		t.Run(mode, func(t *testing.T) { inClusterReflectors(t, mode) })
	}
}

func inClusterReflectors(t *testing.T, mode string) {
	ctx := testCtx(t, 5*time.Minute)
	off := false
	l, pods := newFleet(t, ctx, lab.Options{Hosts: 5, Mode: mode, Configure: func(h *lab.Host, c *lab.HostConfig) {
		if h.Index <= 2 {
			c.BGP.RouteReflector = &lab.RouteReflectorConfig{Enabled: true}
		} else {
			c.BGP.Mesh = &off
		}
	}})
	r1, r2 := l.Host(1), l.Host(2)
	for _, h := range l.Hosts {
		if h.Index <= 2 {
			var want []string
			for _, o := range othersOf(l, h) {
				want = append(want, o.Addr)
			}
			checkSessions(t, ctx, h, want...)
		} else {
			checkSessions(t, ctx, h, r1.Addr, r2.Addr)
		}
	}
	ms, err := l.Host(3).Members(ctx)
	must(t, err)
	var reflectors []string
	for _, m := range ms {
		if m.Reflector {
			reflectors = append(reflectors, m.NodeName)
		}
	}
	if slices.Sort(reflectors); !slices.Equal(reflectors, []string{r1.Name, r2.Name}) {
		t.Errorf("h3's members marked reflector: %v, want [%s %s]", reflectors, r1.Name, r2.Name)
	}
	pingEveryPair(t, ctx, lab.PodEndpoints(pods), 20, "two in-cluster reflectors, three clients")

	p3, p4 := podOn(t, pods, l.Host(3)), podOn(t, pods, l.Host(4))
	pairs := [][2]*lab.Pod{{p3, p4}, {p4, p3}}
	type pinger struct {
		from, to *lab.Pod
		ping     *lab.LossPing
	}
	var pingers []*pinger
	for _, pair := range pairs {
		lp, err := lab.StartLossPing(ctx, pair[0].NS, pair[1].IP.String(), 100*time.Millisecond, 3*time.Minute)
		must(t, err)
		defer lp.Stop() // a failing test still stops it before the lab goes
		pingers = append(pingers, &pinger{pair[0], pair[1], lp})
	}
	flowing := func(what string, n int) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		for _, p := range pingers {
			if err := p.ping.WaitReplies(wctx, p.ping.Replies()+n); err != nil {
				t.Errorf("%s: ping %s -> %s stalled: %v", what, p.from.Name, p.to.Name, err)
			}
		}
	}
	flowing("before the power cut", 5)
	// The kernel entries between the clients must not change: a remote
	// pod's FDB entry (routed: its block's route) is keyed by its host's
	// address, the same through either reflector. The dead reflector's
	// own entries must go (masked as any host).
	h3, h4 := l.Host(3), l.Host(4)
	watchGone := func(on, gone *lab.Host) *lab.GoneWatch {
		w, err := l.WatchGone(ctx, on, gone)
		must(t, err)
		t.Cleanup(w.Close)
		return w
	}
	// stay[i] reports whether pair i's first host deleted an entry of the
	// second's: in overlay mode its pod's FDB entry (WatchGone would wait
	// for the flood entry too), in routed mode the route to its block.
	var stay []func() bool
	for _, pair := range pairs {
		on, of := pair[0].Host, pair[1]
		if mode == modeRouted {
			w := watchGone(on, of.Host)
			stay = append(stay, func() bool {
				wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				_, err := w.Wait(wctx)
				return err == nil
			})
			continue
		}
		w, err := lab.WatchFDB(on.NS)
		must(t, err)
		t.Cleanup(w.Close)
		stay = append(stay, func() bool {
			wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := w.WaitDeleted(wctx, of.MAC, of.Host.Addr)
			return err == nil
		})
	}
	dead := map[*lab.Host]*lab.GoneWatch{h3: watchGone(h3, r2), h4: watchGone(h4, r2)}

	cut, err := r2.PowerOff(ctx)
	must(t, err)
	// Past the hold time (9 s): the clients' sessions to h2 are gone, its
	// routes stale (graceful restart) and h2 masked.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = lab.Eventually(wctx, "clients to see "+r2.Name+"'s session down", time.Second, func(ctx context.Context) (bool, error) {
		for _, h := range l.Hosts[2:] {
			peers, err := h.Peers(ctx)
			if err != nil {
				return false, err
			}
			for _, p := range peers {
				if p.Address == r2.Addr && strings.EqualFold(p.State, "established") {
					return false, nil
				}
			}
		}
		return true, nil
	})
	cancel()
	must(t, err)
	t.Logf("TIMING: %s powered off -> its sessions down at every client after %v", r2.Name, time.Since(cut).Round(time.Millisecond))
	flowing("after the power cut", 20)

	// The surviving reflector reflects a pod created now.
	created := time.Now()
	p5, err := l.Pod(ctx, l.Host(5), "h5p2")
	must(t, err)
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	err = lab.Eventually(wctx, p3.Name+" to reach "+p5.Name, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := lab.Ping(ctx, p3.NS, p5.IP.String(), 1)
		return err == nil && st.Received > 0, nil
	})
	cancel()
	must(t, err)
	t.Logf("TIMING: a pod created on h5 after %s's death reached from h3's pod after %v", r2.Name, time.Since(created).Round(time.Millisecond))

	// The dead reflector is masked as any host: its own entries go (which
	// also shows the watches see deletions); the clients' stay.
	for h, w := range dead {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		at, err := w.Wait(wctx)
		cancel()
		if err != nil {
			t.Errorf("%s kept the dead reflector's entries: %v", h.Name, err)
		} else {
			t.Logf("TIMING: %s deleted the dead reflector's entries %v after the cut", h.Name, at.Sub(cut).Round(time.Millisecond))
		}
	}
	for i, deleted := range stay {
		if deleted() {
			t.Errorf("%s deleted the entry of %s while a reflector died", pairs[i][0].Host.Name, pairs[i][1].Name)
		}
	}
	for _, p := range pingers {
		sent, lost, where := stopLossPing(t, p.ping, cut, "cut")
		t.Logf("TIMING: continuous ping %s -> %s (100 ms) across reflector %s's power cut: %d sent, %d lost",
			p.from.Name, p.to.Name, r2.Name, sent, lost)
		if lost > 0 {
			t.Errorf("ping %s -> %s lost %d requests: %v", p.from.Name, p.to.Name, lost, where)
		}
	}
}

// checkSessions fails t unless h's BGP sessions are exactly to want, all
// established.
func checkSessions(t *testing.T, ctx context.Context, h *lab.Host, want ...string) {
	t.Helper()
	peers, err := h.Peers(ctx)
	must(t, err)
	var got []string
	for _, p := range peers {
		if !strings.EqualFold(p.State, "established") {
			t.Errorf("%s: session to %s is %s", h.Name, p.Address, p.State)
		}
		got = append(got, p.Address)
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: sessions to %v, want exactly %v", h.Name, got, want)
	} else {
		t.Logf("%s: %d sessions, to %v", h.Name, len(got), got)
	}
}

// TestInClusterReflectorRestart: in-cluster reflectors (h2 alone, or h1
// and h2) and clients (the other hosts, bgp.mesh: false). Reflector h2's
// agent is killed (SIGKILL) and started again while a 100 ms ping runs
// between two clients' pods (h3, h4), both ways: nothing is lost. The
// clients keep what the restarting reflector sent as stale (graceful
// restart); the restarted reflector holds back its table and End-of-RIB
// until every client is back and has sent its routes (selection deferral,
// third_party/gobgp patched to wait for peers not re-established yet), so
// with a single reflector too no client drops another's routes.
func TestInClusterReflectorRestart(t *testing.T) {
	for _, reflectors := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d reflectors", reflectors), func(t *testing.T) { reflectorRestart(t, reflectors) })
	}
}

func reflectorRestart(t *testing.T, reflectors int) {
	ctx := testCtx(t, 4*time.Minute)
	off := false
	// debug: the reconciler logs each kernel op it applies (see below).
	l, pods := newFleet(t, ctx, lab.Options{Hosts: 4, LogLevel: "debug", Configure: func(h *lab.Host, c *lab.HostConfig) {
		if h.Index == 2 || h.Index == 1 && reflectors == 2 {
			c.BGP.RouteReflector = &lab.RouteReflectorConfig{Enabled: true}
		} else {
			c.BGP.Mesh = &off
		}
	}})
	r := l.Host(2)
	pa, pb := podOn(t, pods, l.Host(3)), podOn(t, pods, l.Host(4))
	var pings []*lab.LossPing
	for _, pair := range [][2]*lab.Pod{{pa, pb}, {pb, pa}} {
		lp, err := lab.StartLossPing(ctx, pair[0].NS, pair[1].IP.String(), 100*time.Millisecond, 3*time.Minute)
		must(t, err)
		defer lp.Stop()
		pings = append(pings, lp)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	for _, lp := range pings {
		must(t, lp.WaitReplies(wctx, 5))
	}
	cancel()
	kill := time.Now()
	must(t, r.Kill(ctx))
	time.Sleep(time.Second)
	must(t, r.Start(ctx))
	for _, h := range l.Hosts {
		repeer(t, ctx, h)
	}
	t.Logf("TIMING: reflector %s killed, restarted and peered again everywhere after %v", r.Name, time.Since(kill).Round(time.Millisecond))
	// Past the restarted reflector's End-of-RIB and the clients' drop of
	// what it did not send again.
	time.Sleep(5 * time.Second)
	wctx, cancel = context.WithTimeout(ctx, 15*time.Second)
	for _, lp := range pings {
		must(t, lp.WaitReplies(wctx, lp.Replies()+10))
	}
	cancel()
	for i, lp := range pings {
		sent, lost, where := stopLossPing(t, lp, kill, "kill")
		t.Logf("TIMING: continuous ping %d (100 ms) between two clients across reflector %s's agent restart: %d sent, %d lost", i+1, r.Name, sent, lost)
		if lost > 0 {
			t.Errorf("ping %d lost %d requests: %v", i+1, lost, where)
		}
	}
	// A ping at 100 ms can miss a withdrawal undone within milliseconds:
	// no client may have deleted a kernel entry since the kill at all.
	for _, h := range l.Hosts {
		if h.Index == 2 || h.Index == 1 && reflectors == 2 {
			continue // a reflector
		}
		sets, dels := appliedOps(t, h.LastRunLog(), kill)
		if sets == 0 {
			t.Fatalf("%s: no applied set op in its debug log: the check below cannot see deletes", h.Name)
		}
		if len(dels) > 0 {
			t.Errorf("%s deleted kernel entries after reflector %s's kill: %v", h.Name, r.Name, dels)
		}
	}
}

// appliedOps counts the kernel ops the reconciler logged as applied in an
// agent's debug log: the set ops of the whole log and the delete ops at or
// after since.
func appliedOps(t *testing.T, log string, since time.Time) (sets int, dels []string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=applied") {
			continue
		}
		if strings.Contains(line, `op="set `) {
			sets++
		}
		if !strings.Contains(line, `op="del `) {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("log line without a time: %q", line)
		}
		if !at.Before(since) {
			dels = append(dels, line)
		}
	}
	return sets, dels
}
