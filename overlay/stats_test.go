package overlay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// Failures are counted by the kind of object that failed, and every pass
// reports its duration; the latency of a Set is measured only by the pass
// that applied it without error, from the oldest Set it carried.
func TestReconcilerPassStats(t *testing.T) {
	dp := newFake(t)
	var passes []overlay.Pass
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{OnPass: func(p overlay.Pass) { passes = append(passes, p) }})
	dp.FailOn(func(o overlay.Op) bool { return o.FDB != nil })
	r.Set(state(dev(100), fdb(100, "02:00:00:00:02:01", "10.0.0.2"), fdb(100, "02:00:00:00:02:02", "10.0.0.2")))
	set := time.Now()
	time.Sleep(10 * time.Millisecond) // the latency spans the failed pass
	if err := r.Sync(context.Background()); !errors.Is(err, overlaytest.ErrInjected) {
		t.Fatalf("err %v, want the injected failure", err)
	}
	st := r.Stats()
	if st.Errors["fdb"] != 2 || st.Errors["device"] != 0 || st.OpErrors != 2 || len(st.Errors) != len(overlay.ErrorKinds()) {
		t.Errorf("errors by kind %v (total %d), want fdb 2 of 2, every kind present", st.Errors, st.OpErrors)
	}
	dp.FailOn(nil)
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(context.Background()); err != nil { // nothing new: not measured
		t.Fatal(err)
	}
	if len(passes) != 3 {
		t.Fatalf("%d passes reported, want 3: %+v", len(passes), passes)
	}
	for i, p := range passes {
		if p.Duration <= 0 {
			t.Errorf("pass %d: duration %v", i, p.Duration)
		}
	}
	if p := passes[0]; p.Errors != 2 || p.Applied != 1 || p.Latency != 0 {
		t.Errorf("the failed pass: %+v, want 1 applied, 2 errors, no latency", p)
	}
	if p := passes[1]; p.Errors != 0 || p.Applied != 2 || p.Latency < 10*time.Millisecond || p.Latency > time.Since(set) {
		t.Errorf("the pass that applied the Set: %+v, want its latency from the Set, across the failed pass", p)
	}
	if p := passes[2]; p.Applied != 0 || p.Latency != 0 {
		t.Errorf("a pass with nothing new: %+v", p)
	}
}
