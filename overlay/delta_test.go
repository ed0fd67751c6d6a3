package overlay_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// shuffledDelta is cur.DeltaTo(want) with its changes shuffled within each
// kind, plus changes that change nothing (a set of what want holds, a
// delete of what it lacks, a key set then deleted then set again): a
// Delta promises no more than that.
func shuffledDelta(r *rand.Rand, cur, want overlay.State) overlay.Delta {
	d := cur.DeltaTo(want)
	for k, f := range want.FDB {
		if r.IntN(4) == 0 {
			d.FDB = append(d.FDB, overlay.Del[overlay.FDBKey, overlay.FDB](k), overlay.Set(k, f))
		}
	}
	d.Neigh = append(d.Neigh, overlay.Del[overlay.NeighKey, overlay.Neigh](overlay.NeighKey{VNI: 9, IP: netip4(r.IntN(250))}))
	shuffle(r, d.Devices)
	shuffle(r, d.FDB)
	shuffle(r, d.Flood)
	shuffle(r, d.Neigh)
	shuffle(r, d.Routes)
	return d
}

// shuffle reorders changes of distinct keys only: for one key, the last
// change must stay last.
func shuffle[K comparable, V any](r *rand.Rand, cs []overlay.Change[K, V]) {
	seen := map[K]bool{}
	for _, c := range cs {
		if seen[c.Key] {
			return // a key changed twice: keep the order
		}
		seen[c.Key] = true
	}
	r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
}

// batching is the fake kernel as an overlay.Batcher: Apply of each op in
// order, as netlinkdp's batches promise.
type batching struct{ *overlaytest.Dataplane }

func (b batching) ApplyBatch(ctx context.Context, ops []overlay.Op) []error {
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = b.Apply(ctx, op)
	}
	return errs
}

func netip4(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.9.0.%d", i)) }

// The kernel a reconciler reaches through Updates (each pass looking at
// the changed keys only) is the one a reconciler given the same state whole
// (Set) reaches, after random sequences of changes, with passes that
// re-read the kernel (Kick) in between; and Desired is the state the
// changes add up to.
func TestReconcilerUpdateMatchesSet(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 11))
			dp := newFake(t)
			var kernel overlay.Dataplane = dp
			if seed%2 == 1 {
				kernel = batching{dp} // the passes' chunks go through ApplyBatch
			}
			r := overlay.NewReconciler(kernel, overlay.ReconcilerOptions{})
			cur := randomState(rng)
			r.Set(cur.Clone())
			r.MarkSynced()
			if err := r.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			for step := range 40 {
				want := randomState(rng)
				r.Update(shuffledDelta(rng, cur, want))
				if rng.IntN(5) == 0 {
					r.Kick()
				}
				if err := r.Sync(ctx); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				if got := r.Desired(); !got.Equal(want) {
					t.Fatalf("step %d: desired\n%s\nwant\n%s", step, got, want)
				}
				ref := newFake(t)
				fresh := overlay.NewReconciler(ref, overlay.ReconcilerOptions{})
				fresh.Set(want.Clone())
				fresh.MarkSynced()
				if err := fresh.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				if got, want := dp.State(), ref.State(); !got.Equal(want) {
					t.Fatalf("step %d: kernel after Update\n%s\nafter Set\n%s", step, got, want)
				}
				cur = want
			}
		})
	}
}

// A change to one entry of 10,000 costs a pass of one op, and deletes
// wait for MarkSynced like a Set's.
func TestReconcilerUpdateIsPartial(t *testing.T) {
	ctx := context.Background()
	dp := newFake(t)
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	s := state(dev(100))
	for i := range 10000 {
		s.AddFDB(fdb(100, fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), "10.0.0.2"))
	}
	r.Set(s)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ops := func() uint64 { return r.Stats().OpsApplied }
	before := ops()
	var d overlay.Delta
	d.SetFDB(fdb(100, "02:00:00:00:00:07", "10.0.0.3"))
	d.DelFDB(fdb(100, "02:00:00:00:00:08", "10.0.0.2").Key())
	r.Update(d)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ops() - before; n != 1 {
		t.Fatalf("%d ops for one change before MarkSynced, want 1 (the delete waits)", n)
	}
	if _, ok := dp.State().FDB[fdb(100, "02:00:00:00:00:08", "10.0.0.2").Key()]; !ok {
		t.Fatal("deleted before MarkSynced")
	}
	r.MarkSynced()
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := dp.State().FDB[fdb(100, "02:00:00:00:00:08", "10.0.0.2").Key()]; ok || len(dp.State().FDB) != 9999 {
		t.Fatalf("after MarkSynced: %d fdb entries", len(dp.State().FDB))
	}
	before = ops()
	d = overlay.Delta{}
	d.SetFDB(fdb(100, "02:00:00:00:00:09", "10.0.0.3"))
	r.Update(d)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ops() - before; n != 1 {
		t.Fatalf("%d ops for one change, want 1", n)
	}
}

// Updates, Sets, Kicks and readers race with Run (go test -race): the
// passes read the desired state while Updates change it (held back until
// the pass is done reading, want.go), and the kernel ends as the last
// state.
func TestReconcilerUpdateConcurrent(t *testing.T) {
	dp := newFake(t)
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{Resync: 5 * time.Millisecond})
	runReconciler(t, r)
	rng := rand.New(rand.NewPCG(1, 2))
	cur := randomState(rng)
	r.Set(cur.Clone())
	r.MarkSynced()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = r.Current()
				_ = r.Desired()
			}
		}
	})
	for i := range 300 {
		want := randomState(rng)
		r.Update(shuffledDelta(rng, cur, want))
		if i%50 == 0 {
			r.Kick()
		}
		cur = want
	}
	close(stop)
	readers.Wait()
	waitFor(t, "the last state", func() bool { return dp.State().Equal(cur) })
}

// observeCounter counts the reconciler's reads of the kernel.
type observeCounter struct {
	*overlaytest.Dataplane
	n atomic.Int64
}

func (c *observeCounter) Observe(ctx context.Context) (overlay.State, error) {
	c.n.Add(1)
	return c.Dataplane.Observe(ctx)
}

// A resync that falls due while Updates keep coming waits until they stop
// for a second (resync.go), at most one more resync period; it is not
// skipped.
func TestResyncWaitsForQuiet(t *testing.T) {
	dp := &observeCounter{Dataplane: newFake(t)}
	const period = 1500 * time.Millisecond
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{Resync: period})
	runReconciler(t, r)
	rng := rand.New(rand.NewPCG(3, 4))
	cur := randomState(rng)
	r.Set(cur.Clone())
	r.MarkSynced()
	waitFor(t, "the first state", func() bool { return dp.State().Equal(cur) })
	start, before := time.Now(), dp.n.Load()
	// Changes every 50 ms for 2.4 s: the resync due at 1.5 s waits.
	for time.Since(start) < 2400*time.Millisecond {
		want := randomState(rng)
		r.Update(shuffledDelta(rng, cur, want))
		cur = want
		time.Sleep(50 * time.Millisecond)
	}
	if n := dp.n.Load() - before; n != 0 {
		t.Errorf("%d kernel reads while changes kept coming, want 0 (the resync due at %v waits)", n, period)
	}
	waitFor(t, "the resync after the changes stopped", func() bool { return dp.n.Load() > before })
	if took := time.Since(start); took > 2*period+500*time.Millisecond {
		t.Errorf("resync ran %v after the changes began, want by %v (one period after it fell due)", took, 2*period)
	}
	waitFor(t, "the last state", func() bool { return dp.State().Equal(cur) })
}

// slowObserver is a Dataplane whose kernel reads take delay.
type slowObserver struct {
	observeCounter
	delay time.Duration
}

func (s *slowObserver) Observe(ctx context.Context) (overlay.State, error) {
	time.Sleep(s.delay)
	return s.observeCounter.Observe(ctx)
}

// A kernel read that takes long spaces the resyncs out: 50 times its
// duration (resync.go) up to ten periods, here 100 ms reads and a 300 ms
// period: 3 s apart (ten periods, the most; 50 times a read is 5 s),
// where the period alone would have read the kernel ~10 times in the 3 s
// watched.
func TestResyncSpacedByReadCost(t *testing.T) {
	dp := &slowObserver{observeCounter: observeCounter{Dataplane: newFake(t)}, delay: 100 * time.Millisecond}
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{Resync: 300 * time.Millisecond})
	runReconciler(t, r)
	cur := randomState(rand.New(rand.NewPCG(5, 6)))
	r.Set(cur.Clone())
	r.MarkSynced()
	waitFor(t, "the first state", func() bool { return dp.State().Equal(cur) })
	before := dp.n.Load()
	time.Sleep(3 * time.Second)
	if n := dp.n.Load() - before; n > 1 {
		t.Errorf("%d kernel reads in 3 s with 100 ms reads, want at most 1 (resyncs 3 s apart)", n)
	}
	if got := r.Stats().ResyncInterval; got != 3*time.Second {
		t.Errorf("Stats().ResyncInterval = %v, want 3s", got)
	}
}

// runReconciler runs r until the test ends.
func runReconciler(t *testing.T, r *overlay.Reconciler) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}
