package srcloop

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
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

// eorSpeaker waits for one peer's End-of-RIB in family "evpn" and notes,
// at each completeness check, whether the snapshot was built by then.
type eorSpeaker struct {
	built, builtAtCheck atomic.Bool
}

func (s *eorSpeaker) Advertise(context.Context, string, []bgp.Path) error { return nil }
func (s *eorSpeaker) AdvertiseAll(context.Context, []bgp.Advert) error    { return nil }

func (s *eorSpeaker) EORPeers(context.Context, string) ([]string, int, error) {
	s.builtAtCheck.Store(s.built.Load())
	return []string{"10.0.0.2"}, 1, nil
}

// A peer's routes and then its End-of-RIB, handed over back to back: the
// initial table is complete only with a snapshot that holds the routes.
// Before, select could pick the End-of-RIB's kick first, and Synced closed
// over the old snapshot: the agent deleted the routes' kernel entries
// until the pacer's rebuild put them back. Select's choice is random,
// hence many runs. The last completeness check is the one that closed
// Synced (none runs after it).
func TestSyncedAfterRoutesBuilt(t *testing.T) {
	for i := range 50 {
		sp := &eorSpeaker{}
		l := New(Config{Name: "test", Families: []string{"evpn"}, SyncTimeout: time.Minute}, sp)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- l.Run(ctx, Hooks{
				Start: func(context.Context) error { return nil },
				Local: func(context.Context) bool { return true },
				Build: func() { sp.built.Store(true) },
			})
		}()
		<-l.Ready()
		l.KickRx()
		l.OnEOR("evpn", "10.0.0.2")
		select {
		case <-l.Synced():
		case <-time.After(10 * time.Second):
			t.Fatal("never synced")
		}
		ok := sp.builtAtCheck.Load()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("run %d: synced over a snapshot without the routes received before the End-of-RIB", i)
		}
	}
}
