package srcloop

import "time"

// LocalGap is the least time between two Local passes during a burst of
// local changes (or the last pass's cost, if longer: a pass that costs
// more than the gap is followed by one as long, not by a longer gap that
// would grow the next batch and the one after). A lone change
// (a CNI ADD after a quiet moment) is handed over at once; in a burst
// (a node starting many pods, a resync) the changes that arrive within
// the gap go to the speaker together, which hands them to GoBGP in one
// call and to each peer in a few UPDATEs: one pass per endpoint cost a
// GoBGP call and an UPDATE per peer each, which was most of the agent's
// work for 10,000 endpoints announced at once.
const LocalGap = 10 * time.Millisecond

// localPacer schedules Local passes for one Run loop (not safe for
// concurrent use): Kicked on every KickLocal, Ran after every pass.
type localPacer struct {
	timer   *time.Timer
	armed   bool
	lastRun time.Time
	cost    time.Duration
}

func newLocalPacer() *localPacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &localPacer{timer: t}
}

// C fires when a deferred pass is due.
func (p *localPacer) C() <-chan time.Time { return p.timer.C }

// Kicked reports whether a pass may run now; if not, it arms the timer
// for when it may (unless armed already).
func (p *localPacer) Kicked() bool {
	if p.armed {
		return false
	}
	wait := time.Until(p.lastRun.Add(max(LocalGap, p.cost)))
	if wait <= 0 {
		return true
	}
	p.armed = true
	p.timer.Reset(wait)
	return false
}

// Fired notes that the timer fired.
func (p *localPacer) Fired() { p.armed = false }

// Run runs one pass and times it.
func (p *localPacer) Run(pass func()) {
	t0 := time.Now()
	pass()
	p.lastRun = time.Now()
	p.cost = p.lastRun.Sub(t0)
}

func (p *localPacer) Stop() { p.timer.Stop() }
