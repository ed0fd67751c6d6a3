// vxbgp patch (see PATCHES.md): reconnect at once after a session drop,
// and damp only a session that flaps.

package server

import (
	"math/rand"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

const (
	// A session that lasted at least stableSession was no flap: the next
	// drop reconnects at once.
	stableSession = 30 * time.Second
	// A flapping session idles flapIdleBase, doubled on every further
	// flap, up to the former fixed holdtimeIdle (5 s).
	flapIdleBase = 250 * time.Millisecond
	// The first dial comes within firstDialJitter; a failed one is retried
	// after retryBase, doubled up to the ConnectRetry timer.
	firstDialJitter = 100 * time.Millisecond
	retryBase       = 250 * time.Millisecond
)

// sessionState records when a session came up and how long the last one
// lasted; fsm.lock is held (from StateChange).
type sessionState struct {
	establishedAt time.Time
	lasted        time.Duration // the last session's length; 0: none yet
	flaps         int
}

func (s *sessionState) change(from, to bgp.FSMState) {
	switch {
	case to == bgp.BGP_FSM_ESTABLISHED:
		s.establishedAt = time.Now()
	case from == bgp.BGP_FSM_ESTABLISHED:
		s.lasted = time.Since(s.establishedAt)
	}
}

// idleHold is how long the FSM stays idle now: what an admin reset asked
// for (IdleHoldTimeAfterReset), else nothing after a stable session or
// before the first, else a doubling hold for a flapping one (RFC 4271
// 8.1.1, DampPeerOscillations). GoBGP v3.37.0 idled a fixed 5 s after
// every drop, refusing the peer's connections meanwhile, so a restarted
// peer waited 5 s for its session. fsm.lock is held.
func (fsm *fsm) idleHold() time.Duration {
	s := &fsm.session
	switch {
	case fsm.idleHoldTime > 0:
		return time.Duration(fsm.idleHoldTime * float64(time.Second))
	case s.lasted == 0 || s.lasted >= stableSession:
		s.flaps = 0
		return 0
	}
	s.flaps++
	return min(flapIdleBase<<min(s.flaps-1, 8), holdtimeIdle*time.Second)
}

// dialDelay is the wait before dial attempt n (0 first): a short jitter,
// then a doubling backoff up to max, jittered by up to a quarter. GoBGP
// v3.37.0 waited 1-2 s before the first attempt and 1-2 ConnectRetry
// after each failure.
func dialDelay(r *rand.Rand, n int, max time.Duration) time.Duration {
	if n == 0 {
		return time.Duration(r.Int63n(int64(firstDialJitter)))
	}
	d := min(retryBase<<min(n-1, 8), max)
	return d + time.Duration(r.Int63n(int64(d)/4+1))
}
