package overlay

import (
	"maps"
	"slices"
	"time"
)

// A repair is an op a pass applies after re-reading the kernel that the
// cache before the re-read did not call for: the kernel lost (or gained, or
// changed) one of our objects behind our back, e.g. an operator's
// `bridge fdb del`, `ip route del` or `nft delete table inet vxbgp`. The
// reconciler counts repairs by kind (Op.Object: "fdb", "flood", "neigh",
// "route", "device" — a bridge's gateway address is part of its device —,
// "nat") and slows down its kick-triggered passes when repairs keep coming
// (repairLimiter), so that something fighting it (a script deleting an
// entry in a loop, another agent) does not make it spin.

// reflects reports whether s already holds what op would make of it: a
// pass that applies op to a kernel that s describes changes nothing.
func (s State) reflects(op Op) bool {
	set := op.Kind == OpSet
	switch {
	case op.Device != nil:
		c, ok := s.Devices[op.Device.VNI]
		return ok == set && (!set || c == *op.Device)
	case op.Neigh != nil:
		c, ok := s.Neigh[op.Neigh.Key()]
		return ok == set && (!set || c == *op.Neigh)
	case op.FDB != nil:
		c, ok := s.FDB[op.FDB.Key()]
		return ok == set && (!set || c == *op.FDB)
	case op.Flood != nil:
		_, ok := s.Flood[*op.Flood]
		return ok == set
	case op.Route != nil:
		c, ok := s.Routes[op.Route.Dst]
		return ok == set && (!set || c.Equal(*op.Route))
	case op.NAT != nil:
		if !set {
			return s.NAT.IsZero()
		}
		return s.NAT.Equal(*op.NAT)
	}
	return false
}

// repairs counts, by kind, the ops of a pass that before (the cache as it
// was before the kernel was re-read) already reflected.
func repairs(before *State, ops []Op) map[string]uint64 {
	if before == nil {
		return nil // the first read: nothing to compare with
	}
	var n map[string]uint64
	for _, op := range ops {
		if before.reflects(op) {
			if n == nil {
				n = map[string]uint64{}
			}
			n[op.Object()]++
		}
	}
	return n
}

// repairLimiter spaces the kick-triggered passes when repairs keep coming.
// The first burst repairs of a streak go at once (an operator's slip is
// undone within the event's round trip); from then on each repair waits
// twice as long as the previous one, from base up to max (the resync
// period). A streak ends when no repair came for quiet or twice the
// current delay, whichever is longer.
type repairLimiter struct {
	burst     int
	base, max time.Duration
	quiet     time.Duration

	streak int
	delay  time.Duration
	last   time.Time
}

func newRepairLimiter(max time.Duration) repairLimiter {
	return repairLimiter{burst: 5, base: 250 * time.Millisecond, max: max, quiet: time.Second}
}

// repaired records a pass that repaired something at now and returns how
// long the next kick-triggered pass must wait.
func (l *repairLimiter) repaired(now time.Time) time.Duration {
	if !l.last.IsZero() && now.Sub(l.last) > max(l.quiet, 2*l.delay) {
		l.streak, l.delay = 0, 0
	}
	l.last = now
	l.streak++
	switch {
	case l.delay > 0:
		l.delay = min(2*l.delay, l.max)
	case l.streak >= l.burst:
		l.delay = min(l.base, l.max)
	}
	return l.delay
}

// addRepairs adds n to the counters in m, allocating m if needed.
func addRepairs(m map[string]uint64, n map[string]uint64) map[string]uint64 {
	if len(n) == 0 {
		return m
	}
	if m == nil {
		m = map[string]uint64{}
	}
	for k, v := range n {
		m[k] += v
	}
	return m
}

// repairKinds lists n's kinds, sorted, for the log.
func repairKinds(n map[string]uint64) []string { return slices.Sorted(maps.Keys(n)) }
