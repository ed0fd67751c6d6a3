package overlay

import "time"

// Stats counts what the reconciler did, for metrics and status.
type Stats struct {
	Passes     uint64
	OpsApplied uint64
	OpErrors   uint64
	LastPass   time.Time
	LastError  string
	Synced     bool
	// Repairs counts, by kind (Op.Object; every kind present), what
	// passes restored after finding the kernel changed behind our back
	// (repair.go).
	Repairs map[string]uint64
	// Delayed counts the kicks the repair limiter held back.
	Delayed uint64
	// ResyncInterval is how long after the last re-read of the kernel
	// the next periodic one falls due: the period configured, or longer
	// after a slow re-read (resync.go).
	ResyncInterval time.Duration
	// Errors counts failures by kind: the kernel operations that failed,
	// by the kind of object (Op.Object), and "observe" for a failed read
	// of the kernel. Every kind is present. OpErrors is their sum.
	Errors map[string]uint64
}

// ErrorKinds lists the kinds of Stats.Errors.
func ErrorKinds() []string { return append(ObjectKinds(), "observe") }

// Pass is what one pass did, for metrics (ReconcilerOptions.OnPass).
type Pass struct {
	// Duration is the whole pass: reading the kernel (when stale), the
	// diff, and every Apply.
	Duration time.Duration
	Applied  int // kernel operations applied
	Errors   int // kernel operations (or the read) that failed
	// Latency is how long the desired state the pass applied waited
	// since the oldest Set it carries, to the end of the pass; 0 unless
	// the pass took a state handed over since the last successful pass,
	// applied something and had no error. A Set that changes nothing in
	// the kernel is not measured.
	Latency time.Duration
}

// countErrors adds failures by kind to the stats; r.mu is held.
func (r *Reconciler) countErrors(by map[string]uint64) {
	if len(by) == 0 {
		return
	}
	if r.stats.Errors == nil {
		r.stats.Errors = map[string]uint64{}
	}
	for k, n := range by {
		r.stats.Errors[k] += n
	}
}

// keepSetAt puts back the time of the oldest unapplied Set after a failed
// pass (a Set meanwhile is younger); r.mu is held.
func (r *Reconciler) keepSetAt(setAt time.Time) {
	if !setAt.IsZero() && (r.setAt.IsZero() || setAt.Before(r.setAt)) {
		r.setAt = setAt
	}
}

// markStale records a pass whose re-read of the kernel failed: the next
// one re-reads it again.
func (r *Reconciler) markStale(err error, setAt time.Time) {
	r.mu.Lock()
	r.stale = true
	r.stats.Passes++
	r.stats.OpErrors++
	r.countErrors(map[string]uint64{"observe": 1})
	r.stats.LastError = err.Error()
	r.keepSetAt(setAt)
	r.mu.Unlock()
}

// passed hands a pass to OnPass (the metrics).
func (r *Reconciler) passed(p Pass) {
	if r.onPass != nil {
		r.onPass(p)
	}
}
