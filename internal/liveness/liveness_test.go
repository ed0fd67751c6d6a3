package liveness

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Monitor's clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCheck(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	m := New(30 * time.Second)
	m.now = clock.now
	rec, src := m.Beat("reconciler"), m.Beat("evpn")
	if err := m.Check(); err != nil {
		t.Fatalf("fresh loops: %v", err)
	}
	clock.add(30 * time.Second) // at the threshold: still alive
	if err := m.Check(); err != nil {
		t.Fatalf("at the threshold: %v", err)
	}
	src.Beat()
	clock.add(15 * time.Second)
	const want = "reconciler loop stalled for 45s (threshold 30s)"
	if err := m.Check(); err == nil || err.Error() != want {
		t.Fatalf("Check = %v, want %q", err, want)
	}
	clock.add(20 * time.Second) // both silent now: the longest is named
	if err := m.Check(); err == nil || err.Error() != "reconciler loop stalled for 1m5s (threshold 30s)" {
		t.Fatalf("Check = %v", err)
	}
	rec.Beat()
	if err := m.Check(); err == nil || err.Error() != "evpn loop stalled for 35s (threshold 30s)" {
		t.Fatalf("Check = %v", err)
	}
	src.Beat()
	if err := m.Check(); err != nil {
		t.Fatalf("after both beat: %v", err)
	}
}

// Loops run without a Monitor: nil monitors and beats do nothing.
func TestNil(t *testing.T) {
	var m *Monitor
	b := m.Beat("reconciler")
	b.Beat()
	c, stop := b.Ticker()
	defer stop()
	if b != nil || c != nil || m.Check() != nil {
		t.Fatalf("nil monitor: beat %v ticker %v check %v", b, c, m.Check())
	}
}

func TestDefaultsAndTicker(t *testing.T) {
	if m := New(0); m.stall != DefaultStall {
		t.Errorf("New(0) threshold %v, want %v", m.stall, DefaultStall)
	}
	b := New(60 * time.Millisecond).Beat("x")
	c, stop := b.Ticker()
	defer stop()
	select {
	case <-c: // every 10ms
	case <-time.After(5 * time.Second):
		t.Fatal("the idle ticker never fired")
	}
}
