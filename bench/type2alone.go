package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// type2Alone is the type-2 row's diagnostic: each receiver taking in the n
// routes alone, the other idle, pairs times, alternating which goes first.
// The row itself writes to both at once, as the audit asked, so
// on 2 cores it also measures how the kernel's scheduler shares them
// between the two (one Go process with GOMAXPROCS=2 against zebra's and
// bgpd's threads); alone, each side has the whole machine. It returns
// the times until all were in, ours (h2, the speaker's peer 0) and the
// reference's (f2, peer 1).
func type2Alone(ctx context.Context, l *lab.Lab, sp *speakerProc, daemons []int, n, pairs int, logf func(string, ...any)) (ours, refs []time.Duration, err error) {
	sides := []struct {
		name string
		ns   string
		peer int
		out  *[]time.Duration
	}{{"h2", l.Host(2).NS, 0, &ours}, {"f2", l.FRR[1].NS, 1, &refs}}
	one := func(k int) error {
		s := sides[k]
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(n)*time.Millisecond)
		defer cancel()
		if _, err := settle(ctx, daemons, time.Minute); err != nil {
			return err
		}
		w, err := lab.WatchNeigh(s.ns, remoteFDBWithPrefix("02:e0:"))
		if err != nil {
			return err
		}
		defer w.Close()
		start := time.Now()
		_, at, err := sp.step(ctx, fmt.Sprintf("go %d", s.peer), "sent", n, receiver{s.name + " alone", w.WaitCount})
		if err != nil {
			return err
		}
		*s.out = append(*s.out, at[0].Sub(start))
		logf("type2: %s alone: all in after %v", s.name, at[0].Sub(start).Round(time.Millisecond))
		if _, err := settle(ctx, daemons, time.Minute); err != nil {
			return err
		}
		d, err := lab.WatchNeigh(s.ns, deletedFDBWithPrefix("02:e0:"))
		if err != nil {
			return err
		}
		defer d.Close()
		_, _, err = sp.step(ctx, fmt.Sprintf("withdraw %d", s.peer), "withdrawn", n, receiver{s.name + " withdrawing alone", d.WaitCount})
		return err
	}
	for p := range pairs {
		first, second := 0, 1
		if p%2 == 1 {
			first, second = 1, 0
		}
		if err := one(first); err != nil {
			return ours, refs, err
		}
		if err := one(second); err != nil {
			return ours, refs, err
		}
	}
	return ours, refs, nil
}
