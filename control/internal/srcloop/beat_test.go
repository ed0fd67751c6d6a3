package srcloop

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/internal/liveness"
)

type noSpeaker struct{}

func (noSpeaker) Advertise(context.Context, string, []bgp.Path) error { return nil }
func (noSpeaker) AdvertiseAll(context.Context, []bgp.Advert) error    { return nil }
func (noSpeaker) EORPeers(context.Context, string) ([]string, int, error) {
	return nil, 0, nil
}

// An idle loop beats (it turns over every syncCheckEvery); one stuck in a
// hook stops beating, and the monitor names it.
func TestLoopBeats(t *testing.T) {
	const stall = 1500 * time.Millisecond
	m := liveness.New(stall)
	l := New(Config{Name: "evpn", Beat: m.Beat("evpn")}, noSpeaker{})
	var stuck atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, Hooks{
			Start: func(context.Context) error { return nil },
			Local: func(ctx context.Context) bool {
				if stuck.Load() {
					<-ctx.Done() // a speaker call that never answers
				}
				return true
			},
			Build: func() {},
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	for end := time.Now().Add(2 * stall); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if err := m.Check(); err != nil {
			t.Fatalf("idle loop: %v", err)
		}
	}
	stuck.Store(true)
	l.KickLocal()
	deadline := time.Now().Add(10 * time.Second)
	for m.Check() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a stuck loop still counts as alive")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := m.Check(); !strings.HasPrefix(err.Error(), "evpn loop stalled for ") {
		t.Errorf("Check = %v", err)
	}
}
