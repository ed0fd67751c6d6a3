package overlay_test

import (
	"context"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
)

// TestRepairCounted: what disappears behind the reconciler's back comes
// back on Kick and is counted by kind; what the reconciler changes itself
// (a Set) is no repair.
func TestRepairCounted(t *testing.T) {
	dp := newFake(t)
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{Resync: time.Hour})
	f := fdb(100, "02:00:00:00:02:01", "10.0.0.2")
	n := neigh(100, "10.244.2.2", "02:00:00:00:02:01")
	fl := flood(100, "10.0.0.2")
	want := state(dev(100), fl, f, n)
	r.Set(want.Clone())
	r.MarkSynced()
	ctx := context.Background()
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r.Set(state(dev(100), flood(100, "10.0.0.2"), f)) // our own delete
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Stats().Repairs; total(got) != 0 {
		t.Fatalf("repairs after Set: %v, want none", got)
	}
	for _, op := range []overlay.Op{{Kind: overlay.OpDel, FDB: &f}, {Kind: overlay.OpDel, Flood: &fl}} {
		if err := dp.Apply(ctx, op); err != nil { // behind its back
			t.Fatal(err)
		}
	}
	r.Kick()
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.Stats().Repairs
	if got["fdb"] != 1 || got["flood"] != 1 || total(got) != 2 {
		t.Errorf("repairs %v, want fdb 1 flood 1", got)
	}
	cur, err := dp.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w := r.Desired(); !cur.Equal(w) {
		t.Errorf("kernel after the repair:\n%s\nwant:\n%s", cur, w)
	}
}

// TestRepairFightBounded: a kernel that loses an entry after every pass
// gets it back, but the kicks it causes are spaced out: the reconciler
// does not spin.
func TestRepairFightBounded(t *testing.T) {
	dp := newFake(t)
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{Resync: 2 * time.Second})
	f := fdb(100, "02:00:00:00:02:01", "10.0.0.2")
	r.Set(state(dev(100), f))
	r.MarkSynced()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		if err := dp.Apply(ctx, overlay.Op{Kind: overlay.OpDel, FDB: &f}); err != nil {
			t.Fatal(err)
		}
		r.Kick()
		time.Sleep(10 * time.Millisecond)
	}
	st := r.Stats()
	if st.Passes > 20 {
		t.Errorf("%d passes in 1s of a fight, want at most 20", st.Passes)
	}
	if st.Delayed == 0 {
		t.Errorf("no kick was delayed")
	}
	t.Logf("passes %d, repairs %v, delayed %d", st.Passes, st.Repairs, st.Delayed)
	deadline := time.Now().Add(3 * time.Second)
	for {
		cur, err := dp.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cur.FDB[f.Key()]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("entry not back 3s after the fight")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
