package overlay

import (
	"fmt"
	"testing"
	"time"
)

// TestRepairLimiter: a burst of repairs of one object goes through at
// once, then each waits twice as long as the previous one up to the
// maximum; other objects are not held back; a quiet spell starts over.
func TestRepairLimiter(t *testing.T) {
	l := newRepairLimiter(4 * time.Second)
	now := time.Unix(0, 0)
	var got []time.Duration
	for range 10 {
		now = now.Add(50 * time.Millisecond)
		got = append(got, l.repaired(now, []string{"set fdb a"}))
	}
	want := []time.Duration{0, 0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	if d := l.repaired(now.Add(10*time.Millisecond), []string{"set fdb b"}); d != 0 {
		t.Errorf("another object: delay %v, want 0", d)
	}
	if d := l.repaired(now.Add(9*time.Second), []string{"set fdb a"}); d != 0 {
		t.Errorf("after a quiet spell: delay %v, want 0", d)
	}
	now = now.Add(20 * time.Second)
	for i := range 10 {
		if d := l.repaired(now.Add(time.Duration(i)*time.Millisecond), []string{fmt.Sprint("set fdb ", i)}); d != 0 {
			t.Errorf("object %d repaired once: delay %v, want 0", i, d)
		}
	}
}
