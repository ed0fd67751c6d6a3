package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxbgp/vxbgp/internal/liveness"
	"github.com/vxbgp/vxbgp/internal/lograte"
)

// Reconciler drives a Dataplane towards the desired State. It is level
// triggered: every pass compares the whole desired state with what the kernel
// holds (a cached copy, refreshed by Observe on start, on Kick, after an error
// and on every resync) and applies the difference. The control plane's only
// entry is Set; the reconciler owns every write to the kernel.
//
// Until MarkSynced is called it adds and updates but deletes nothing: after a
// restart the kernel still holds the previous run's entries, and they must
// stay until every source (BGP peers, the endpoint store) has told us what is
// still wanted. That is what keeps traffic flowing across a restart.
//
// Removing a VXLAN device counts as a delete: it takes the device's FDB and
// flood entries with it. So until MarkSynced, a desired Device without VXLAN
// device (routed mode) where the kernel has one (a host restarted from
// overlay into routed mode) is applied with the kernel's tunnel fields
// (VXLAN, VTEP, Underlay, Port) and everything else from the desired
// Device: the bridge changes at once (proxy ARP, proxy ND), the VXLAN device
// and its entries stay, the peers that still send over VXLAN still reach
// the pods. After MarkSynced the desired Device applies as it is, and the
// VXLAN device goes. The other way round (a VXLAN device wanted where there
// is none) is an add, made at once.
type Reconciler struct {
	dp     Dataplane
	log    *slog.Logger
	resync time.Duration
	warn   *lograte.Throttle
	beat   *liveness.Beat
	onPass func(Pass)

	wake chan struct{}
	// kicked wakes Run for a Kick, which the repair limiter may delay.
	kicked chan struct{}

	mu      sync.Mutex
	want    State
	hasWant bool
	// full says the next pass compares the whole of want with the kernel
	// (after Set, MarkSynced); otherwise a pass that does not re-read the
	// kernel compares only the keys changed (Update) since the last one.
	full    bool
	changed dirty
	// wantShared says a full pass reads want's maps without holding mu:
	// Updates meanwhile wait in pending (want.go).
	wantShared bool
	pending    []Delta
	setAt      time.Time // the oldest Set not yet applied by a successful pass (zero: none)
	changedAt  time.Time // the last Set or Update, for the resync gate (resync.go)
	synced     bool
	stale      bool // the cache must be refreshed from the kernel
	stats      Stats
	// repaired names what the last pass repaired (see repair.go).
	repaired []string

	// cache is the kernel state as of the last pass. cacheMu is held for a
	// whole pass, so readers (Current) see a consistent state without the
	// pass copying 100k entries every time.
	cacheMu sync.Mutex
	cache   *State
	// observed is how long the last pass's re-read of the kernel took
	// (0: that pass did not re-read it); Run spaces resyncs by it.
	observed time.Duration
	// counts and shown are what readers get without waiting for a pass
	// (/metrics, vxbgpctl status and fdb): a first pass over 100k entries
	// takes seconds, and a kernel call that hangs would hang them too.
	counts atomic.Pointer[cacheCounts]
	shown  atomic.Pointer[State] // the last copy Current made
}

// applyChunk is how many ops a pass hands a Batcher at once: enough to
// fill a few system calls, few enough that the heartbeat keeps beating.
const applyChunk = 512

// ReconcilerOptions configures NewReconciler.
type ReconcilerOptions struct {
	Logger *slog.Logger
	// Resync is how often the kernel is re-read and the whole state
	// re-applied even without a change (default 30s), at least: a re-read
	// that takes long spaces them out (resyncPeriod).
	Resync time.Duration
	// Beat is Run's heartbeat (nil: none): it beats on every turn of
	// the loop, after every kernel operation, and on an idle tick.
	Beat *liveness.Beat
	// OnPass, when set, is called after every pass, on the reconciler's
	// goroutine: it must not block.
	OnPass func(Pass)
}

// NewReconciler returns a Reconciler for dp.
func NewReconciler(dp Dataplane, o ReconcilerOptions) *Reconciler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Resync == 0 {
		o.Resync = 30 * time.Second
	}
	return &Reconciler{dp: dp, log: o.Logger, resync: o.Resync, warn: lograte.New(o.Logger, 10*time.Second), beat: o.Beat, onPass: o.OnPass,
		wake: make(chan struct{}, 1), kicked: make(chan struct{}, 1), stale: true, stats: Stats{ResyncInterval: o.Resync}}
}

// Set hands over the desired state (latest wins) and wakes the reconciler.
// The caller must not modify s afterwards.
func (r *Reconciler) Set(s State) {
	r.mu.Lock()
	r.want, r.hasWant, r.full, r.wantShared, r.pending = s, true, true, false, nil
	r.changed = dirty{}
	r.changedAt = time.Now()
	if r.setAt.IsZero() {
		r.setAt = r.changedAt
	}
	r.mu.Unlock()
	r.poke()
}

// Update applies d to the desired state (see Delta) and wakes the
// reconciler; the caller must not modify d afterwards. Unless something
// else calls for a full pass (Set, MarkSynced, a re-read of the kernel),
// the next pass looks at d's keys only: a change costs O(its size), not
// O(desired state). Updates and Sets are applied in the order they are
// made: a caller with several goroutines must order them itself.
func (r *Reconciler) Update(d Delta) {
	if d.Empty() {
		return
	}
	r.mu.Lock()
	r.applyWant(d)
	r.hasWant = true
	r.changed.add(d)
	r.changedAt = time.Now()
	if r.setAt.IsZero() {
		r.setAt = r.changedAt
	}
	r.mu.Unlock()
	r.poke()
}

// MarkSynced allows deletes: every source has reported at least once.
// The next pass compares everything: the deletes the passes before
// skipped are made then.
func (r *Reconciler) MarkSynced() {
	r.mu.Lock()
	r.synced, r.full = true, true
	r.mu.Unlock()
	r.poke()
}

// Kick makes the next pass re-read the kernel, e.g. after a netlink event
// on one of the agent's objects. While repairs keep coming the pass it
// starts is delayed (repairLimiter); a Set meanwhile re-reads at once.
func (r *Reconciler) Kick() {
	r.mu.Lock()
	r.stale = true
	r.mu.Unlock()
	select {
	case r.kicked <- struct{}{}:
	default:
	}
}

func (r *Reconciler) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends: on Set, MarkSynced and Kick, every resync
// interval (a due resync waits while changes keep coming, at most one
// more interval: resync.go), and after a failed pass with exponential
// backoff (100ms..10s).
// Kicks are passed on at once until repairs keep coming; then each waits
// for the repair limiter (repair.go), at most a resync period.
func (r *Reconciler) Run(ctx context.Context) error {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	resync := time.NewTicker(r.resync)
	defer resync.Stop()
	var retry, held, deferred <-chan time.Time
	limit := newRepairLimiter(r.resync)
	gate := resyncGate{quiet: resyncQuiet, maxWait: r.resync}
	var kickAt time.Time // kicks wait until then
	idle, stopIdle := r.beat.Ticker()
	defer stopIdle()
	for {
		r.beat.Beat()
		select {
		case <-ctx.Done():
			return nil
		case <-idle: // an idle loop still turns over (liveness)
			continue
		case <-r.wake:
		case <-r.kicked:
			if wait := time.Until(kickAt); wait > 0 {
				if held == nil {
					r.mu.Lock()
					r.stats.Delayed++
					r.mu.Unlock()
					held = time.After(wait)
				}
				continue
			}
		case <-held:
			held = nil
		case <-resync.C:
			if gate.waiting() || !r.resyncNow(&gate, &deferred) {
				continue
			}
		case <-deferred:
			deferred = nil
			if !r.resyncNow(&gate, &deferred) {
				continue
			}
		case <-retry:
			retry = nil
		}
		err := r.Sync(ctx)
		if r.observed > 0 {
			r.spaceResync(resync)
		}
		r.mu.Lock()
		repaired := r.repaired
		r.mu.Unlock()
		if len(repaired) > 0 {
			if wait := limit.repaired(time.Now(), repaired); wait > 0 {
				kickAt = time.Now().Add(wait)
				r.warn.Warn("backoff", "kernel state keeps changing behind our back: repairs slowed down", "next_in", wait)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Warn("reconcile failed, retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
	}
}

// Sync runs one pass now. Run calls it; tests may call it directly, but not
// concurrently with Run.
func (r *Reconciler) Sync(ctx context.Context) error {
	start := time.Now()
	// The cache is locked first: a pass that waited for Current's copy
	// must still see every Update made meanwhile.
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	r.mu.Lock()
	want, hasWant, synced, stale, setAt := r.want, r.hasWant, r.synced, r.stale, r.setAt
	// A partial pass needs a cache to compare with, and before MarkSynced
	// a device change needs keepTunnels, which looks at every device.
	full := r.full || stale || r.cache == nil || (!synced && len(r.changed.devices) > 0)
	var partOps []Op
	if full {
		r.wantShared = true
		r.full = false
		defer r.releaseWant() // at the latest; once Diff is done below
	} else {
		// what the kernel holds at the keys, against what is wanted; under
		// r.mu, as Update changes want in place (r.cache, not stale here,
		// is ours under cacheMu)
		partOps = r.changed.diff(*r.cache, want)
	}
	r.changed = dirty{}
	r.stale, r.repaired, r.setAt = false, nil, time.Time{}
	r.mu.Unlock()
	if !hasWant {
		return nil
	}
	var before *State // the cache before a re-read, to tell repairs
	if stale || r.cache == nil {
		obs := time.Now()
		cur, err := r.dp.Observe(ctx)
		r.observed = time.Since(obs)
		if err != nil {
			r.markStale(err, setAt)
			r.passed(Pass{Duration: time.Since(start), Errors: 1})
			return fmt.Errorf("observe: %w", err)
		}
		before = r.cache
		r.cache = &cur // ours (see Observe): mutated in place from here on
	}
	var ops []Op
	if full {
		if !synced {
			want = keepTunnels(*r.cache, want)
		}
		ops = Diff(*r.cache, want)
		r.releaseWant()
	} else {
		ops = partOps
	}
	var fixed []Op
	if stale {
		fixed = repairs(before, ops)
	}
	// op.String costs more than applying an op to the fake kernel: not
	// for a log line that is dropped.
	debug := r.log.Enabled(ctx, slog.LevelDebug)
	var errs []error
	failed := map[string]uint64{}
	applied := uint64(0)
	if !synced {
		ops = slices.DeleteFunc(ops, func(op Op) bool { return op.Kind == OpDel })
	}
	for len(ops) > 0 {
		// A Batcher gets the ops in chunks (several kernel messages per
		// system call); the order is the Dataplane's to keep.
		chunk := ops[:1]
		var results []error
		if b, ok := r.dp.(Batcher); ok {
			chunk = ops[:min(len(ops), applyChunk)]
			results = b.ApplyBatch(ctx, chunk)
		} else {
			results = []error{r.dp.Apply(ctx, chunk[0])}
		}
		ops = ops[len(chunk):]
		r.beat.Beat() // a long pass is progress, not a stall
		for i, op := range chunk {
			if err := results[i]; err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", op, err))
				failed[op.Object()]++
				continue
			}
			applied++
			r.cache.Apply(op)
			if debug {
				r.log.Debug("applied", "op", op.String())
			}
		}
	}
	r.publishCounts()
	err := errors.Join(errs...)
	r.mu.Lock()
	r.stats.Passes++
	r.stats.OpsApplied += applied
	r.stats.OpErrors += uint64(len(errs))
	r.countErrors(failed)
	r.stats.LastPass = time.Now()
	var kinds map[string]uint64
	r.stats.Repairs, kinds, r.repaired = countRepairs(r.stats.Repairs, fixed)
	if err != nil {
		r.stats.LastError = err.Error()
		r.stale = true // the kernel may differ from the cache in ways we don't know
		r.keepSetAt(setAt)
	} else {
		r.stats.LastError = ""
	}
	r.mu.Unlock()
	pass := Pass{Duration: time.Since(start), Applied: int(applied), Errors: len(errs)}
	if err == nil && applied > 0 && !setAt.IsZero() {
		pass.Latency = time.Since(setAt)
	}
	r.passed(pass)
	if applied > 0 || err != nil {
		// A full pass (start, resync, repair) or a failure is news; the
		// partial passes of a route or two each (a thousand a minute on
		// every host while a 1,000-pod fleet starts, ~2 % of the agent's
		// CPU as lines) are not: the metrics count them.
		level := slog.LevelDebug
		if full || err != nil {
			level = slog.LevelInfo
		}
		r.log.Log(ctx, level, "reconciled", "ops", applied, "errors", len(errs), "pending_deletes", !synced)
	}
	for _, kind := range repairKinds(kinds) {
		r.warn.Warn("repair "+kind, "kernel state changed behind our back, repaired", "kind", kind, "ops", kinds[kind])
	}
	return err
}
