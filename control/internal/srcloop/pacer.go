package srcloop

import "time"

// Pacing of snapshots: a lone change waits GatherDelay for the rest of its
// UPDATE (GoBGP hands over one path per event); during a burst snapshots
// go out at most every PublishGap, or every two build times if that is
// longer (a 10k-route snapshot takes a few milliseconds), so that a burst
// never turns into back-to-back rebuilds while a single change still
// reaches the reconciler within about a millisecond.
const (
	GatherDelay = time.Millisecond
	PublishGap  = 5 * time.Millisecond
)

// Pacer schedules snapshot rebuilds for one Run loop (not safe for
// concurrent use): Changed on every change, Build when C fires.
type Pacer struct {
	timer       *time.Timer
	pending     bool
	lastPublish time.Time
	buildCost   time.Duration
}

// NewPacer returns a stopped Pacer; call Stop when the loop ends.
func NewPacer() *Pacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Pacer{timer: t, lastPublish: time.Now()}
}

// C fires when a rebuild is due.
func (p *Pacer) C() <-chan time.Time { return p.timer.C }

// Changed schedules a rebuild unless one is already scheduled.
func (p *Pacer) Changed() {
	if p.pending {
		return
	}
	p.pending = true
	p.timer.Reset(max(GatherDelay, time.Until(p.lastPublish.Add(max(PublishGap, 2*p.buildCost)))))
}

// Pending reports whether a rebuild is scheduled and has not run.
func (p *Pacer) Pending() bool { return p.pending }

// Build runs build (the rebuild, after C fired or ahead of it) and times
// it for the pacing of the next one.
func (p *Pacer) Build(build func()) {
	p.pending = false
	p.timer.Stop() // built ahead of the timer: it must not fire for nothing
	t0 := time.Now()
	build()
	p.lastPublish = time.Now()
	p.buildCost = p.lastPublish.Sub(t0)
}

func (p *Pacer) Stop() { p.timer.Stop() }
