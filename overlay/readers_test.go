package overlay_test

import (
	"context"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// gatedDP holds every Apply after the first `free` until release closes.
type gatedDP struct {
	*overlaytest.Dataplane
	free    int
	n       int
	release chan struct{}
	held    chan struct{}
}

func (g *gatedDP) Apply(ctx context.Context, op overlay.Op) error {
	if g.n++; g.n > g.free {
		if g.n == g.free+1 {
			close(g.held)
		}
		<-g.release
	}
	return g.Dataplane.Apply(ctx, op)
}

// Readers do not wait for a pass: /metrics and vxbgpctl status read
// Counts, and vxbgpctl fdb Current, while a long first pass (or a hung
// kernel call) holds the cache. They see the state of the last finished
// pass.
func TestReadersDoNotWaitForAPass(t *testing.T) {
	g := &gatedDP{Dataplane: newFake(t), free: 1 << 30, release: make(chan struct{}), held: make(chan struct{})}
	r := overlay.NewReconciler(g, overlay.ReconcilerOptions{})
	first := state(dev(100), flood(100, "10.0.0.2"), fdb(100, "02:00:00:00:02:01", "10.0.0.2"))
	r.Set(first)
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, fdbs, floods, _ := r.Counts(); fdbs != 1 || floods != 1 {
		t.Fatalf("after the first pass Counts fdb=%d flood=%d, want 1 1", fdbs, floods)
	}
	_ = r.Current() // the copy readers get while the next pass runs

	g.free, g.n = 0, 0
	r.Set(state(dev(100), flood(100, "10.0.0.2"), flood(100, "10.0.0.3"),
		fdb(100, "02:00:00:00:02:01", "10.0.0.2"), fdb(100, "02:00:00:00:03:01", "10.0.0.3")))
	done := make(chan error, 1)
	go func() { done <- r.Sync(context.Background()) }()
	<-g.held // the pass holds the cache, stuck in the kernel

	read := make(chan [2]int, 1)
	go func() {
		_, fdbs, _, _ := r.Counts()
		read <- [2]int{fdbs, len(r.Current().FDB)}
		_ = r.Stats()
		_ = r.RouteCount()
	}()
	select {
	case got := <-read:
		if got != [2]int{1, 1} {
			t.Errorf("during the pass: Counts fdb=%d, Current %d FDB entries; want the last pass's 1 and 1", got[0], got[1])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("readers wait for the pass stuck in the kernel")
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, fdbs, floods, _ := r.Counts(); fdbs != 2 || floods != 2 {
		t.Errorf("after the pass Counts fdb=%d flood=%d, want 2 2", fdbs, floods)
	}
}
