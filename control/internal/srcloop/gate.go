package srcloop

import (
	"log/slog"
	"sync"
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
