// Package lograte limits repeated warnings: a peer that keeps sending
// something we reject must not flood the log, yet the first occurrence of
// each kind is always visible.
package lograte

import (
	"context"
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
	t.Log(slog.LevelWarn, kind, msg, args...)
}

// Log is Warn at another level: for what is worth a line now and then but
// is not wrong (a peer with more networks than we have).
func (t *Throttle) Log(level slog.Level, kind, msg string, args ...any) {
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
	t.log.Log(context.Background(), level, msg, args...)
}
