package overlay

import "time"

// resyncQuiet is how long no Set or Update must have come before a due
// resync runs.
const resyncQuiet = time.Second

// A resync's re-read takes its share of a core, and at 100,000 remote MACs
// the kernel's FDB dump alone makes it 1.7–2.0 s a time: 6 % of a core
// every 30 s, the agent's busiest idle work by far. So the next resync
// comes resyncCostRatio times the last re-read's duration later if that
// is longer than the period configured, but never later than
// resyncMaxFactor periods: what the watch cannot see (README, "What the
// agent repairs") waits that long at most.
const (
	resyncCostRatio = 50
	resyncMaxFactor = 10
)

// resyncPeriod is the time until the next resync after a re-read that took
// observed, with base the period configured.
func resyncPeriod(base, observed time.Duration) time.Duration {
	return min(max(base, resyncCostRatio*observed), resyncMaxFactor*base)
}

// spaceResync sets the time until the next resync after a pass that
// re-read the kernel.
func (r *Reconciler) spaceResync(t *time.Ticker) {
	p := resyncPeriod(r.resync, r.observed)
	r.observed = 0
	t.Reset(p)
	r.mu.Lock()
	r.stats.ResyncInterval = p
	r.mu.Unlock()
}

// resyncGate decides when a due periodic resync runs. A resync re-reads
// the kernel's tables whole: at 100,000 remote MACs that is 1.7–2.0 s of
// CPU, most of it the kernel's FDB dump, which starts again from the first
// entry for every datagram it fills. One that falls inside a burst of
// routes (a peer's full table) adds all of it to the burst, on the cores
// the burst needs. So a due resync waits until no change came for quiet,
// but never longer than maxWait after it fell due: it still runs, later.
// Kicks (the kernel changed behind our back) do not wait here.
type resyncGate struct {
	quiet, maxWait time.Duration
	due            time.Time // when the waiting resync fell due; zero: none waits
}

// hold is called when a resync is due (the ticker) or its wait ended, with
// the time of the last change. It returns 0 if the resync runs now, else
// how long to wait before asking again.
func (g *resyncGate) hold(now, lastChange time.Time) time.Duration {
	if g.due.IsZero() {
		g.due = now
	}
	sinceChange, waited := now.Sub(lastChange), now.Sub(g.due)
	if sinceChange >= g.quiet || waited >= g.maxWait {
		g.due = time.Time{}
		return 0
	}
	return min(g.quiet-sinceChange, g.maxWait-waited)
}

// waiting reports whether a due resync waits.
func (g *resyncGate) waiting() bool { return !g.due.IsZero() }

// resyncNow asks the gate whether a due resync runs now: if so it marks
// the cache stale, else it sets *deferred to ask again.
func (r *Reconciler) resyncNow(gate *resyncGate, deferred *<-chan time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if wait := gate.hold(time.Now(), r.changedAt); wait > 0 {
		*deferred = time.After(wait)
		return false
	}
	r.stale = true
	return true
}
