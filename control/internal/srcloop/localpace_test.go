package srcloop

import (
	"testing"
	"time"
)

// A lone kick runs Local at once; kicks within LocalGap of a pass wait
// for one deferred pass, whatever their number.
func TestLocalPacer(t *testing.T) {
	p := newLocalPacer()
	defer p.Stop()
	if !p.Kicked() {
		t.Fatal("first kick deferred")
	}
	p.Run(func() {})
	start := time.Now()
	for range 5 {
		if p.Kicked() {
			t.Fatal("kick right after a pass ran at once")
		}
	}
	select {
	case <-p.C():
	case <-time.After(time.Second):
		t.Fatal("the deferred pass never came")
	}
	if waited := time.Since(start); waited > LocalGap+500*time.Millisecond {
		t.Errorf("deferred pass after %v, want about %v", waited, LocalGap)
	}
	p.Fired()
	p.Run(func() { time.Sleep(3 * LocalGap) }) // a costly pass: the gap grows to its cost
	if p.Kicked() {
		t.Fatal("kick right after a costly pass ran at once")
	}
	select {
	case <-p.C():
		t.Fatal("timer fired before the costly pass's cost")
	case <-time.After(LocalGap + LocalGap/2):
	}
}
