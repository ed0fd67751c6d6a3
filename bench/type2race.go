package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// type2Race is the type-2 row's lab: the speaker, h2's vxbgpd (ours) and
// f2's zebra and bgpd (ref).
type type2Race struct {
	l         *lab.Lab
	sp        *speakerProc
	n         int
	logf      func(string, ...any)
	ours, ref []int
}

// type2Sample is one racing intake and its withdrawal.
type type2Sample struct {
	ours, ref       time.Duration // until all were in, on h2 and on f2
	sent, withdrawn string        // how long the speaker wrote; until both were empty
	peakO, peakR    float64       // VmHWM, MB
	rssOverPSS      float64       // f2's RSS - PSS after the intake, MB
}

func (r *type2Race) all() []int { return append(slices.Clone(r.ours), r.ref...) }

// load waits for the speaker's sessions and has it encode the tables; it
// returns its "loaded" line and each side's PSS before the first sample.
func (r *type2Race) load(ctx context.Context) (loaded string, pssO, pssR float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := r.sp.expect(ctx, "established"); err != nil {
		return "", 0, 0, err
	}
	if _, err := io.WriteString(r.sp.stdin, "load\n"); err != nil {
		return "", 0, 0, err
	}
	if loaded, err = r.sp.expect(ctx, "loaded"); err != nil {
		return "", 0, 0, err
	}
	if pssO, err = pssMB(r.ours); err != nil {
		return "", 0, 0, err
	}
	if pssR, err = pssMB(r.ref); err != nil {
		return "", 0, 0, err
	}
	return loaded, pssO, pssR, nil
}

// sample races one intake: with halves, h2's daemon on halves[0] and f2's
// on halves[1] (nil: wherever the kernel puts them), then withdraws it all.
func (r *type2Race) sample(ctx context.Context, label string, halves *[2]unix.CPUSet) (type2Sample, error) {
	var x type2Sample
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute+time.Duration(r.n)*2*time.Millisecond)
	defer cancel()
	h2, f2, all := r.l.Host(2), r.l.FRR[1], r.all()
	if halves != nil {
		if err := pinProcs(r.ours, &halves[0]); err != nil {
			return x, err
		}
		if err := pinProcs(r.ref, &halves[1]); err != nil {
			return x, err
		}
		r.logf("type2: %s: h2 on CPUs %s, f2 on CPUs %s", label, cpuList(&halves[0]), cpuList(&halves[1]))
	}
	if _, err := settle(ctx, all, time.Minute); err != nil {
		return x, fmt.Errorf("before %s: %w", label, err)
	}
	wo, err := lab.WatchNeigh(h2.NS, remoteFDBWithPrefix("02:e0:"))
	if err != nil {
		return x, err
	}
	defer wo.Close()
	wr, err := lab.WatchNeigh(f2.NS, remoteFDBWithPrefix("02:e0:"))
	if err != nil {
		return x, err
	}
	defer wr.Close()
	if err := resetPeak(all); err != nil {
		return x, err
	}
	// With -v, each side's CPU per intake: it tells a change apart from
	// noise better than the wall time.
	cpuO, err1 := cpuNow(r.ours)
	cpuR, err2 := cpuNow(r.ref)
	fltO, err3 := minorFaults(r.ours)
	fltR, err4 := minorFaults(r.ref)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return x, err
	}
	start := time.Now()
	took, at, err := r.sp.step(ctx, "go", "sent", r.n, receiver{"h2", wo.WaitCount}, receiver{"f2", wr.WaitCount})
	if err != nil {
		return x, err
	}
	x.sent, x.ours, x.ref = took, at[0].Sub(start), at[1].Sub(start)
	r.logf("type2: %s: sent at %s; all in on h2 after %v, on f2 after %v", label, start.Format("15:04:05.000"),
		x.ours.Round(time.Millisecond), x.ref.Round(time.Millisecond))
	r.logf("type2: %s: entries in after (10/25/50/75/90/99 %%): h2 %v, f2 %v", label, arrivals(wo.Times(), start), arrivals(wr.Times(), start))
	// Both done, and done with the aftermath: then the peaks.
	if _, err := settle(ctx, all, time.Minute); err != nil {
		return x, fmt.Errorf("%s: %w", label, err)
	}
	o, err1 := cpuNow(r.ours)
	rf, err2 := cpuNow(r.ref)
	fo, err3 := minorFaults(r.ours)
	fr, err4 := minorFaults(r.ref)
	if errors.Join(err1, err2, err3, err4) == nil {
		r.logf("type2: %s: CPU from the send until quiet: h2's vxbgpd %v (%d minor faults), f2's zebra+bgpd %v (%d)", label,
			time.Duration(o.since(cpuO)).Round(time.Millisecond), fo-fltO, time.Duration(rf.since(cpuR)).Round(time.Millisecond), fr-fltR)
	}
	if x.peakO, err = peakMB(r.ours); err != nil {
		return x, err
	}
	if x.peakR, err = peakMB(r.ref); err != nil {
		return x, err
	}
	if rss, err := rssMB(r.ref); err == nil {
		if pss, err := pssMB(r.ref); err == nil {
			x.rssOverPSS = rss - pss
		}
	}
	// Back to the empty table for the next sample (and the rows after
	// this one).
	do, err := lab.WatchNeigh(h2.NS, deletedFDBWithPrefix("02:e0:"))
	if err != nil {
		return x, err
	}
	defer do.Close()
	dr, err := lab.WatchNeigh(f2.NS, deletedFDBWithPrefix("02:e0:"))
	if err != nil {
		return x, err
	}
	defer dr.Close()
	wstart := time.Now()
	if _, _, err := r.sp.step(ctx, "withdraw", "withdrawn", r.n, receiver{"h2 withdrawing", do.WaitCount}, receiver{"f2 withdrawing", dr.WaitCount}); err != nil {
		return x, err
	}
	x.withdrawn = time.Since(wstart).Round(time.Millisecond).String()
	r.logf("type2: %s: withdrawn at %s; both empty after %s", label, wstart.Format("15:04:05.000"), x.withdrawn)
	return x, nil
}

// timesOf returns each sample's times until all were in, ours and the
// reference's.
func timesOf(xs []type2Sample) (ours, refs []time.Duration) {
	for _, x := range xs {
		ours, refs = append(ours, x.ours), append(refs, x.ref)
	}
	return ours, refs
}
