// Package srcloop holds what the EVPN and routed sources' Run loops share:
// the Ready/Synced gate the agent waits on, the pacing of snapshots during
// a burst of received routes, and the non-blocking kick that wakes a loop.
package srcloop

import (
	"log/slog"
	"sync"
	"time"
)

// Kick wakes whoever selects on c (capacity 1) without blocking: kicks
// that arrive while one is pending merge into it.
func Kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Gate is a source's two one-way milestones: Ready (its own routes are in
// the speaker, so sessions may come up) and Synced (the initial table is
// complete, so stale kernel state may go). The zero value is not usable;
// call NewGate.
type Gate struct {
	what                string // "evpn", "unicast": names the log line
	log                 *slog.Logger
	ready, synced       chan struct{}
	readyOnce, syncOnce sync.Once
}

func NewGate(what string, log *slog.Logger) *Gate {
	return &Gate{what: what, log: log, ready: make(chan struct{}), synced: make(chan struct{})}
}

func (g *Gate) Ready() <-chan struct{}  { return g.ready }
func (g *Gate) Synced() <-chan struct{} { return g.synced }

// MarkReady closes Ready; later calls do nothing.
func (g *Gate) MarkReady() { g.readyOnce.Do(func() { close(g.ready) }) }

// MarkSynced closes Synced and logs why (with args); later calls do
// nothing.
func (g *Gate) MarkSynced(why string, args ...any) {
	g.syncOnce.Do(func() {
		g.log.Info("initial "+g.what+" table complete", append([]any{"reason", why}, args...)...)
		close(g.synced)
	})
}

// IsSynced reports whether Synced is closed.
func (g *Gate) IsSynced() bool {
	select {
	case <-g.synced:
		return true
	default:
		return false
	}
}

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

// Build runs build (the rebuild, after C fired) and times it for the pacing
// of the next one.
func (p *Pacer) Build(build func()) {
	p.pending = false
	t0 := time.Now()
	build()
	p.lastPublish = time.Now()
	p.buildCost = p.lastPublish.Sub(t0)
}

func (p *Pacer) Stop() { p.timer.Stop() }
