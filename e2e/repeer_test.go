package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// repeerTarget is the bound on a restarted agent's sessions (README: Restarts).
const repeerTarget = 2 * time.Second

// TestRepeer: h1's agent is restarted ten times, SIGTERM and SIGKILL in
// turn, each started again at once. Each time its BGP sessions must be
// back within repeerTarget of the start; a continuous ping from h2's pod
// to h1's loses nothing across all ten; afterwards every host's FDB holds
// exactly the live pods' entries (nothing stale, nothing missing). A pod
// deleted on h1 between two restarts is gone everywhere at the end.
func TestRepeer(t *testing.T) {
	ctx := testCtx(t, 5*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3})
	h1, h2 := l.Host(1), l.Host(2)
	addPods(t, ctx, l, 1)
	gone, err := l.Pod(ctx, h1, "h1p2")
	must(t, err)
	converge(t, ctx, l)
	src, dst := podOn(t, l.Pods(), h2), podOn(t, l.Pods(), h1)
	ping, err := lab.StartPing(ctx, src.NS, dst.IP.String(), 100*time.Millisecond, 3*time.Minute)
	must(t, err)
	defer ping.Stop()
	must(t, ping.WaitReplies(ctx, 5))

	var terms, kills []time.Duration
	for i := range 10 {
		kill := i%2 == 1
		if kill {
			must(t, h1.Kill(ctx))
		} else {
			must(t, h1.Stop(ctx))
		}
		if i == 4 {
			// CNI DEL with the agent down: withdrawn once it is back.
			must(t, l.DelPod(ctx, gone))
		}
		start := time.Now()
		must(t, h1.Start(ctx))
		repeer(t, ctx, h1)
		took := time.Since(start)
		if kill {
			kills = append(kills, took)
		} else {
			terms = append(terms, took)
		}
		if took > repeerTarget {
			t.Errorf("restart %d (%s): sessions back after %v, want at most %v", i+1, signalName(kill), took.Round(time.Millisecond), repeerTarget)
		}
		waitReplies(t, ctx, ping, ping.Replies()+5)
	}
	t.Logf("TIMING: agent restart -> BGP sessions back, SIGTERM: %s", lab.Summary(terms))
	t.Logf("TIMING: agent restart -> BGP sessions back, SIGKILL: %s", lab.Summary(kills))
	waitConverged(t, ctx, l)
	for _, h := range l.Hosts[1:] {
		if err := waitWithdrawn(ctx, h, gone); err != nil {
			t.Error(err)
		}
	}
	st, err := ping.Stop()
	must(t, err)
	t.Logf("continuous ping %s -> %s across 10 restarts: %d transmitted, %d received", src.Name, dst.Name, st.Transmitted, st.Received)
	if st.Lost() != 0 {
		t.Errorf("%d of %d pings lost across the restarts", st.Lost(), st.Transmitted)
	}
	for _, h := range l.Hosts {
		if extra, err := staleOn(ctx, l, h); err != nil || len(extra) > 0 {
			t.Errorf("%s: FDB entries of no live pod: %v %v", h.Name, extra, err)
		}
	}
}

func signalName(kill bool) string {
	if kill {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// staleOn lists h's remote FDB entries (a MAC behind another VTEP) that
// belong to no live pod.
func staleOn(ctx context.Context, l *lab.Lab, h *lab.Host) ([]string, error) {
	fdb, err := lab.ReadFDB(ctx, h.NS, lab.VXLANDev)
	if err != nil {
		return nil, err
	}
	var live []string
	for _, p := range l.Pods() {
		live = append(live, p.MAC)
	}
	var extra []string
	for _, e := range fdb {
		if e.Dst == "" || e.MAC == "00:00:00:00:00:00" || slices.Contains(live, e.MAC) {
			continue
		}
		extra = append(extra, fmt.Sprintf("%s dst %s", e.MAC, e.Dst))
	}
	return extra, nil
}
