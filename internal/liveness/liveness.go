// Package liveness tells whether the agent's loops still turn over: each
// loop beats (Beat) every time it completes an iteration or makes
// progress, and ticks over at least every Every() while idle, so a loop
// that is idle but healthy still beats. A Monitor reports a loop that has
// not beaten for its stall threshold: the loop is stuck (a netlink call
// that never returns, a deadlock, a speaker call that never answers).
// /healthz fails and the systemd watchdog pings stop on that report, so
// the kubelet or systemd restarts the agent; a restart never disturbs
// traffic (the kernel state stays).
package liveness

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStall is how long a loop may go without a beat before the agent
// counts as stuck. A reconciler pass beats after every kernel operation,
// so even the first pass over 100,000 entries beats many times a second.
const DefaultStall = 30 * time.Second

// Monitor watches the beats of named loops. A nil *Monitor watches
// nothing: its beats are nil and Check always passes.
type Monitor struct {
	stall time.Duration
	now   func() time.Time

	mu    sync.Mutex
	beats []*Beat
}

// New returns a Monitor that reports a loop stalled after stall without a
// beat (DefaultStall if stall <= 0).
func New(stall time.Duration) *Monitor {
	if stall <= 0 {
		stall = DefaultStall
	}
	return &Monitor{stall: stall, now: time.Now}
}

// Beat registers the loop name and returns its heartbeat, which counts as
// having beaten now (a loop gets one threshold to start).
func (m *Monitor) Beat(name string) *Beat {
	if m == nil {
		return nil
	}
	b := &Beat{name: name, now: m.now, every: m.stall / 6}
	b.Beat()
	m.mu.Lock()
	m.beats = append(m.beats, b)
	m.mu.Unlock()
	return b
}

// Check returns nil while every loop beat within the threshold, or an
// error naming the loop that has been silent longest: "reconciler loop
// stalled for 45s".
func (m *Monitor) Check() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var worst *Beat
	var silent time.Duration
	for _, b := range m.beats {
		if d := now.Sub(b.last()); d > m.stall && d > silent {
			worst, silent = b, d
		}
	}
	if worst == nil {
		return nil
	}
	return fmt.Errorf("%s loop stalled for %s (threshold %s)", worst.name, silent.Truncate(time.Second), m.stall)
}

// Beat is one loop's heartbeat. A nil *Beat does nothing: loops run
// without a Monitor in tests and tools.
type Beat struct {
	name  string
	now   func() time.Time
	every time.Duration
	at    atomic.Int64 // unix nanoseconds of the last beat
}

// Beat records that the loop turned over or made progress. It is cheap
// (an atomic store) and safe from any goroutine.
func (b *Beat) Beat() {
	if b != nil {
		b.at.Store(b.now().UnixNano())
	}
}

func (b *Beat) last() time.Time { return time.Unix(0, b.at.Load()) }

// Ticker returns the channel an idle loop selects on to tick over (every
// sixth of the threshold), and its stop function. For a nil Beat the
// channel is nil: it never fires.
func (b *Beat) Ticker() (<-chan time.Time, func()) {
	if b == nil {
		return nil, func() {}
	}
	t := time.NewTicker(b.every)
	return t.C, t.Stop
}
