package routed

import (
	"log/slog"
	"sync"
	"time"
)

// throttle limits repeated warnings: a peer that keeps sending something
// we reject must not flood the log, yet the first occurrence of each kind
// is always visible.
type throttle struct {
	log      *slog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newThrottle(l *slog.Logger, interval time.Duration) *throttle {
	return &throttle{log: l, interval: interval, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// warn logs msg unless a warning of the same kind went out less than the
// interval ago; the next one that goes out says how many were dropped.
func (t *throttle) warn(kind, msg string, args ...any) {
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
