package netlinkdp_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
)

// TestWatchRepairs runs the reconciler with Watch as its kick source (and a
// resync too long to matter) and deletes a device behind its back.
func TestWatchRepairs(t *testing.T) {
	dp, _, ns := newDP(t)
	r := runWithWatch(t, dp)
	want := kernelState()
	r.Set(want.Clone())
	r.MarkSynced()
	waitObserved(t, dp, want)
	nstest.IP(t, ns, "link", "del", "vxlan100")
	waitObserved(t, dp, want)
	nstest.IP(t, ns, "link", "set", "vxbr200", "mtu", "1300")
	waitObserved(t, dp, want)
}

// runWithWatch runs a reconciler of dp with Watch as its kick source (and a
// resync too long to matter) until the test ends, and returns it once
// Watch has subscribed.
func runWithWatch(t *testing.T, dp *netlinkdp.Dataplane) *overlay.Reconciler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{Resync: time.Hour, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	watching := make(chan struct{}, 1)
	kick := func() {
		r.Kick()
		select {
		case watching <- struct{}{}:
		default:
		}
	}
	runDone, watchDone := make(chan error, 1), make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()
	go func() { watchDone <- dp.Watch(ctx, kick) }()
	t.Cleanup(func() {
		cancel()
		for name, c := range map[string]chan error{"Run": runDone, "Watch": watchDone} {
			select {
			case err := <-c:
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not return after cancel", name)
			}
		}
	})
	select {
	case <-watching: // Watch kicks once it is subscribed
	case <-time.After(10 * time.Second):
		t.Fatal("Watch never subscribed")
	}
	return r
}
