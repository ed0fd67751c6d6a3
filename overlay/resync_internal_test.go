package overlay

import (
	"testing"
	"time"
)

func TestResyncGate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	g := resyncGate{quiet: time.Second, maxWait: 30 * time.Second}
	// Quiet for long enough: the resync runs at once.
	if w := g.hold(at(0), at(-1500)); w != 0 || g.waiting() {
		t.Fatalf("quiet: wait %v, waiting %v; want 0, false", w, g.waiting())
	}
	// A change 200 ms ago: wait the rest of the quiet period.
	if w := g.hold(at(0), at(-200)); w != 800*time.Millisecond || !g.waiting() {
		t.Fatalf("busy: wait %v, waiting %v; want 800ms, true", w, g.waiting())
	}
	// Still busy later: it keeps waiting, counted from when it fell due.
	if w := g.hold(at(800), at(700)); w != 900*time.Millisecond {
		t.Fatalf("still busy: wait %v, want 900ms", w)
	}
	// Changes never stop: it runs maxWait after it fell due, no later.
	if w := g.hold(at(29_500), at(29_400)); w != 500*time.Millisecond {
		t.Fatalf("near maxWait: wait %v, want 500ms", w)
	}
	if w := g.hold(at(30_000), at(29_990)); w != 0 || g.waiting() {
		t.Fatalf("at maxWait: wait %v, waiting %v; want 0, false", w, g.waiting())
	}
	// The next one falls due afresh.
	if w := g.hold(at(40_000), at(39_900)); w != 900*time.Millisecond {
		t.Fatalf("next: wait %v, want 900ms", w)
	}
}

func TestResyncPeriod(t *testing.T) {
	const base = 30 * time.Second
	for _, tc := range []struct{ observed, want time.Duration }{
		{10 * time.Millisecond, base}, // a small table: the period configured
		{600 * time.Millisecond, base},
		{time.Second, 50 * time.Second},
		{2 * time.Second, 100 * time.Second}, // ~100,000 remote MACs
		{10 * time.Second, 10 * base},        // at most ten periods
	} {
		if got := resyncPeriod(base, tc.observed); got != tc.want {
			t.Errorf("resyncPeriod(%v, %v) = %v, want %v", base, tc.observed, got, tc.want)
		}
	}
}
