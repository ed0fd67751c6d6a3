package lab

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// podWithLatency creates pod name on from and measures the time from the
// start of its CNI ADD until the pod's remote FDB entry (MAC dst from's
// VTEP, self) is notified in to's namespace: the end-to-end time the control
// plane takes to make a new pod reachable from another host.
func (l *Lab) podWithLatency(ctx context.Context, from, to *Host, name string) (*Pod, time.Duration, error) {
	w, err := WatchFDB(to.NS)
	if err != nil {
		return nil, 0, err
	}
	defer w.Close()
	start := time.Now()
	p, err := l.Pod(ctx, from, name)
	if err != nil {
		return nil, 0, err
	}
	at, err := w.WaitAdded(ctx, p.MAC, from.Addr)
	if err != nil {
		return p, 0, fmt.Errorf("pod %s on %s: %w", name, to.Name, err)
	}
	d := at.Sub(start)
	l.logf("%s: pod %s reachable from %s %v after its CNI ADD began (ADD took %v)",
		from.Name, name, to.Name, d.Round(100*time.Microsecond), p.AddTime.Round(100*time.Microsecond))
	return p, d, nil
}

// Summary renders durations as "median M (min A, max B, n=N)".
func Summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("median %v (min %v, max %v, n=%d)", r(s[len(s)/2]), r(s[0]), r(s[len(s)-1]), len(s))
}

// PodsWithLatency creates perHost pods on every host (named h<i>p<j>), each
// timed until its FDB entry appears on the next host, and returns the
// latencies from the start of CNI ADD and from its return.
func (l *Lab) PodsWithLatency(ctx context.Context, perHost int) (fromStart, afterAdd []time.Duration, err error) {
	for i, h := range l.Hosts {
		to := l.Hosts[(i+1)%len(l.Hosts)]
		for j := 1; j <= perHost; j++ {
			p, d, err := l.podWithLatency(ctx, h, to, fmt.Sprintf("%sp%d", h.Name, j))
			if err != nil {
				return fromStart, afterAdd, err
			}
			fromStart = append(fromStart, d)
			afterAdd = append(afterAdd, d-p.AddTime)
		}
	}
	return fromStart, afterAdd, nil
}
