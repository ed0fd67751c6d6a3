// Package lograte limits repeated warnings: a peer that keeps sending
// something we reject must not flood the log, yet the first occurrence of
// each kind is always visible.
package lograte

import (
	"log/slog"
	"sync"
	"time"
)

// Throttle logs at most one warning of each kind per interval.
type Throttle struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// New returns a Throttle logging to l.
func New(l *slog.Logger, interval time.Duration) *Throttle {
	return &Throttle{log: l, interval: interval, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// Warn logs msg unless a warning of the same kind went out less than the
// interval ago; the next one that goes out says how many were dropped.
func (t *Throttle) Warn(kind, msg string, args ...any) {
	now := time.Now()
	t.mu.Lock()
	if last, ok := t.last[kind]; ok && now.Sub(last) < t.interval {
		t.suppressed[kind]++
		t.mu.Unlock()
		return
	}
	n := t.suppressed[kind]
	t.last[kind] = now
	delete(t.suppressed, kind)
	t.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	t.log.Warn(msg, args...)
}
