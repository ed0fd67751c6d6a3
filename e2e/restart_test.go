package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestRestart: SIGTERM leaves the kernel state in place, so a continuous
// ping across hosts loses nothing while one agent is stopped and started
// again; and a pod deleted while its host's agent is down (CNI DEL works
// without the agent) is withdrawn from the other hosts once the agent is
// back. The two parts share a lab; the second starts from a running,
// peered h1 whatever the first left behind.
func TestRestart(t *testing.T) {
	ctx := testCtx(t, 5*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3})
	h1, h2 := l.Host(1), l.Host(2)
	addPods(t, ctx, l, 1)
	extra, err := l.Pod(ctx, h1, "h1p2")
	must(t, err)
	converge(t, ctx, l)
	src, dst := podOn(t, l.Pods(), h1), podOn(t, l.Pods(), h2)

	t.Run("no ping lost", func(t *testing.T) {
		ping, err := lab.StartPing(ctx, src.NS, dst.IP.String(), 100*time.Millisecond, 3*time.Minute)
		must(t, err)
		defer ping.Stop()
		must(t, ping.WaitReplies(ctx, 5))
		before := ping.Replies()
		stopAt := time.Now()
		must(t, h1.Stop(ctx)) // fails if vxbgpd needed SIGKILL
		t.Logf("TIMING: vxbgpd on h1 exited %v after SIGTERM", time.Since(stopAt).Round(time.Millisecond))
		if missing, err := missingOn(ctx, l, h1); err != nil || len(missing) > 0 {
			t.Errorf("h1 lost kernel entries when its agent stopped: %v %v", missing, err)
		}
		// Keep it down for 30 more replies (3 s). The peers see the session
		// close at once; if they withdrew h1's routes instead of keeping
		// them (graceful restart), h2's replies would have no way back.
		waitReplies(t, ctx, ping, before+30)
		startAt := time.Now()
		must(t, h1.Start(ctx))
		repeer(t, ctx, h1)
		t.Logf("TIMING: h1 agent ready and peered %v after start", time.Since(startAt).Round(time.Millisecond))
		waitConverged(t, ctx, l)
		waitReplies(t, ctx, ping, ping.Replies()+30)
		st, err := ping.Stop()
		must(t, err)
		t.Logf("continuous ping %s -> %s across the restart: %d transmitted, %d received", src.Name, dst.Name, st.Transmitted, st.Received)
		if st.Lost() != 0 {
			t.Errorf("%d of %d pings lost across the agent restart", st.Lost(), st.Transmitted)
		}
	})

	t.Run("delete while down", func(t *testing.T) {
		if !h1.Running() {
			must(t, h1.Start(ctx))
		}
		repeer(t, ctx, h1)
		waitConverged(t, ctx, l)
		must(t, h1.Stop(ctx))
		if err := l.DelPod(ctx, extra); err != nil {
			t.Fatalf("CNI DEL with the agent down: %v", err)
		}
		startAt := time.Now()
		must(t, h1.Start(ctx))
		// Withdrawing needs the sessions; time them apart from the withdraw.
		repeer(t, ctx, h1)
		t.Logf("TIMING: h1 peered again %v after start", time.Since(startAt).Round(time.Millisecond))
		for _, h := range l.Hosts[1:] {
			if err := waitWithdrawn(ctx, h, extra); err != nil {
				t.Error(err)
			}
		}
		t.Logf("TIMING: pod deleted while h1 was down withdrawn everywhere %v after h1's agent started", time.Since(startAt).Round(time.Millisecond))
		// The pod that stayed is still known everywhere.
		waitConverged(t, ctx, l)
		if st, err := lab.Ping(ctx, dst.NS, src.IP.String(), 2); err != nil || st.Received == 0 {
			t.Errorf("ping %s -> %s after the restart: %+v %v", dst.Name, src.Name, st, err)
		}
	})
}

// waitConverged is Lab.WaitConverged bounded to 30 s, as a test error.
func waitConverged(t *testing.T, ctx context.Context, l *lab.Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := l.WaitConverged(ctx); err != nil {
		t.Error(err)
	}
}

// waitReplies waits for the continuous ping to reach n replies; at 10/s it
// should take n/10 s, so a stall (lost pings) is reported after 15 s
// without ending the test, which still wants the final counts.
func waitReplies(t *testing.T, ctx context.Context, p *lab.PingRun, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := p.WaitReplies(ctx, n); err != nil {
		t.Errorf("continuous ping stalled: %v", err)
	}
}

// repeerTimeout bounds how long a restarted agent may take to get its
// sessions back: a few connect retries (2-4 s each) and one idle hold (5 s)
// should do; a minute means the speakers keep refusing each other.
const repeerTimeout = time.Minute

// repeer waits for a restarted agent's sessions and fails the test (not
// just times out the whole test) when they take longer than repeerTimeout.
func repeer(t *testing.T, ctx context.Context, h *lab.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, repeerTimeout)
	defer cancel()
	if err := h.WaitPeers(ctx); err != nil {
		t.Fatalf("restarted agent on %s did not get its BGP sessions back within %v: %v", h.Name, repeerTimeout, err)
	}
}
