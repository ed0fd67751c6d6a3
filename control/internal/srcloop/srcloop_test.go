package srcloop

import (
	"log/slog"
	"testing"
	"time"
)

func TestKickMerges(t *testing.T) {
	c := make(chan struct{}, 1)
	Kick(c)
	Kick(c) // must not block
	<-c
	select {
	case <-c:
		t.Fatal("two kicks delivered twice")
	default:
	}
}

func TestGate(t *testing.T) {
	g := NewGate("test", slog.New(slog.DiscardHandler))
	if g.IsSynced() {
		t.Fatal("synced at start")
	}
	g.MarkReady()
	g.MarkReady()
	g.MarkSynced("timeout")
	g.MarkSynced("again")
	select {
	case <-g.Ready():
	default:
		t.Fatal("Ready not closed")
	}
	if !g.IsSynced() {
		t.Fatal("not synced after MarkSynced")
	}
}

// A lone change is due after GatherDelay; a change right after an
// expensive build waits two build times.
func TestPacer(t *testing.T) {
	p := NewPacer()
	defer p.Stop()
	p.lastPublish = time.Now().Add(-time.Second)
	t0 := time.Now()
	p.Changed()
	p.Changed() // merged into the scheduled one
	<-p.C()
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Fatalf("lone change due after %v", d)
	}
	p.Build(func() { time.Sleep(30 * time.Millisecond) })
	t1 := time.Now()
	p.Changed()
	<-p.C()
	if d := time.Since(t1); d < 50*time.Millisecond {
		t.Fatalf("change after a 30 ms build due after %v, want about 60 ms", d)
	}
	select {
	case <-p.C():
		t.Fatal("fired twice")
	case <-time.After(20 * time.Millisecond):
	}
}
