// vxbgp patch (see PATCHES.md): reconnect at once after a session drop,
// and damp only a session that flaps.

package server

import (
	"math/rand"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

const (
	// A session that lasted at least stableSession was no flap.
	stableSession = 30 * time.Second
	// A flapping session idles flapIdleBase, doubled on every further
	// flap, up to the former fixed holdtimeIdle (5 s).
	flapIdleBase = 250 * time.Millisecond
	// The first dial comes within firstDialJitter; a failed one is retried
	// after retryBase, doubled up to the ConnectRetry timer.
	firstDialJitter = 100 * time.Millisecond
	retryBase       = 250 * time.Millisecond
)

// sessionState decides the idle hold at each fall back to Idle; it is
// changed in StateChange (the server loop, fsm.lock held), which runs
// before the next state's handler, the one that waits in idle().
type sessionState struct {
	establishedAt time.Time
	flaps         int
	hold          time.Duration // for the coming idle
}

// change notes a state change and, on a fall back to Idle, sets the hold:
// none after a session that a peer ended by closing its connection (it
// restarted or crashed: it wants to come back at once) or that lasted
// stableSession; otherwise (a NOTIFICATION either way, the hold timer, a
// session that never got established) a hold from flapIdleBase doubling
// with each such fall up to the former fixed holdtimeIdle (5 s): RFC 4271
// 8.1.1, DampPeerOscillations. GoBGP v3.37.0 idled 5 s at every fall,
// refusing the peer's connections meanwhile, so a restarted peer waited
// 5 s for its session.
func (s *sessionState) change(from, to bgp.FSMState, reason *fsmStateReason) {
	switch {
	case to == bgp.BGP_FSM_ESTABLISHED:
		s.establishedAt = time.Now()
		return
	case to != bgp.BGP_FSM_IDLE:
		return
	}
	// With graceful restart negotiated, established() reports a closed
	// connection (and a NOTIFICATION it may treat so) as fsmGracefulRestart.
	closed := reason != nil && (reason.Type == fsmReadFailed || reason.Type == fsmWriteFailed || reason.Type == fsmGracefulRestart)
	if from == bgp.BGP_FSM_ESTABLISHED && (closed || time.Since(s.establishedAt) >= stableSession) {
		s.flaps, s.hold = 0, 0
		return
	}
	s.flaps++
	s.hold = min(flapIdleBase<<min(s.flaps-1, 8), holdtimeIdle*time.Second)
}

// idleHold is how long the FSM stays idle now: what an admin reset asked
// for (IdleHoldTimeAfterReset), else what change decided. fsm.lock is held.
func (fsm *fsm) idleHold() time.Duration {
	if fsm.idleHoldTime > 0 {
		return time.Duration(fsm.idleHoldTime * float64(time.Second))
	}
	return fsm.session.hold
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

// restartTimerExpired tells a fall back to Idle caused by the end of the
// peer's graceful restart time, the one RFC 4724 4.2 makes the helper drop
// the stale routes for. v3.37.0 dropped them at any fall back to Idle while
// the peer was restarting: a connection that failed on the way up (the
// restarted peer's listener already accepting before its configuration
// lists us, which it then closes) lost every route the peer had kept.
func restartTimerExpired(e *fsmMsg) bool {
	return e.StateReason != nil && e.StateReason.Type == fsmRestartTimerExpired
}
