package e2e

import (
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestPingMatrix: 3 hosts × 2 pods made by the real CNI plugin; once BGP has
// converged, every one of the 30 ordered pod pairs answers a ping.
func TestPingMatrix(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	start := time.Now()
	l := newLab(t, ctx, lab.Options{Hosts: 3})
	if d, err := l.WaitAllPeers(ctx); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("TIMING: BGP full mesh established %v after the agents were ready", d.Round(time.Millisecond))
	}
	// Each pod is timed from its CNI ADD until the next host has its FDB entry.
	fromStart, afterAdd, err := l.PodsWithLatency(ctx, 2)
	must(t, err)
	t.Logf("TIMING: CNI ADD start -> FDB entry on the next host: %s", lab.Summary(fromStart))
	t.Logf("TIMING: CNI ADD return -> FDB entry on the next host: %s", lab.Summary(afterAdd))
	converge(t, ctx, l)
	pods := l.Pods()
	pingEveryPair(t, ctx, lab.PodEndpoints(pods), 30, "3 hosts x 2 pods")
	t.Logf("TIMING: 3x2 lab built, converged and pinged in %v", time.Since(start).Round(time.Millisecond))
}
