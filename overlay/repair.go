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

// repairs returns the ops of a pass that before (the cache as it was
// before the kernel was re-read) already reflected.
func repairs(before *State, ops []Op) []Op {
	if before == nil {
		return nil // the first read: nothing to compare with
	}
	var r []Op
	for _, op := range ops {
		if before.reflects(op) {
			r = append(r, op)
		}
	}
	return r
}

// repairLimiter spaces the kick-triggered passes when the same object
// keeps needing repair. The first burst repairs of an object go at once
// (an operator's slip is undone within the event's round trip); from then
// on each waits twice as long as the previous one, from base up to max (the
// resync period). An object's streak ends when it needed no repair for
// quiet or twice its current delay, whichever is longer. Different objects
// repaired one after the other (an operator deleting several entries) do
// not slow each other down.
type repairLimiter struct {
	burst     int
	base, max time.Duration
	quiet     time.Duration

	objects map[string]*streak
	sweep   time.Time // when objects was last cleared of ended streaks
}

type streak struct {
	n     int
	delay time.Duration
	last  time.Time
}

func newRepairLimiter(max time.Duration) repairLimiter {
	return repairLimiter{burst: 5, base: 250 * time.Millisecond, max: max, quiet: time.Second, objects: map[string]*streak{}}
}

// repaired records a pass that repaired objects (Op.String of each) at now
// and returns how long the next kick-triggered pass must wait.
func (l *repairLimiter) repaired(now time.Time, objects []string) time.Duration {
	var wait time.Duration
	for _, o := range objects {
		s := l.objects[o]
		if s == nil || l.ended(s, now) {
			s = &streak{}
			l.objects[o] = s
		}
		s.last = now
		s.n++
		switch {
		case s.delay > 0:
			s.delay = min(2*s.delay, l.max)
		case s.n >= l.burst:
			s.delay = min(l.base, l.max)
		}
		wait = max(wait, s.delay)
	}
	if now.Sub(l.sweep) > l.max {
		l.sweep = now
		for o, s := range l.objects {
			if l.ended(s, now) {
				delete(l.objects, o)
			}
		}
	}
	return wait
}

func (l *repairLimiter) ended(s *streak, now time.Time) bool {
	return now.Sub(s.last) > max(l.quiet, 2*s.delay)
}

// countRepairs adds ops to the counters in m by kind, allocating m if
// needed, and returns m with the ops' kinds and names.
func countRepairs(m map[string]uint64, ops []Op) (_ map[string]uint64, kinds map[string]uint64, names []string) {
	if len(ops) == 0 {
		return m, nil, nil
	}
	if m == nil {
		m = map[string]uint64{}
	}
	kinds = map[string]uint64{}
	for _, op := range ops {
		m[op.Object()]++
		kinds[op.Object()]++
		names = append(names, op.String())
	}
	return m, kinds, names
}

// repairKinds lists n's kinds, sorted, for the log.
func repairKinds(n map[string]uint64) []string { return slices.Sorted(maps.Keys(n)) }
