package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// The EVPN speaker of the overlay lab: on the underlay, iBGP l2vpn evpn
// with h2 and with FRR host f2.
const evpnSpeaker = "10.250.0.150"

// startEVPNSpeaker starts the speaker and adds it as a neighbour to f2 (h2
// has it in its config, see overlaySuite).
func startEVPNSpeaker(ctx context.Context, c Config, l *lab.Lab, n int) (*speakerProc, error) {
	ns, err := l.AddUnderlayNS(ctx, "sp", "sp", evpnSpeaker)
	if err != nil {
		return nil, err
	}
	f2 := l.FRR[1]
	sp, err := startSpeaker(ctx, c.Self, ns, "-id", evpnSpeaker, "-asn", fmt.Sprint(lab.ASN), "-evpn", fmt.Sprint(n),
		"-vni", fmt.Sprint(lab.VNI), "-peers", fmt.Sprintf("%s:%d,%s:%d", l.Host(2).Addr, lab.ASN, f2.Addr, lab.ASN))
	if err != nil {
		return nil, err
	}
	_, err = lab.RunEnv(ctx, nil, nil, "vtysh", "--vty_socket", f2.Dir, "-c", "configure terminal",
		"-c", fmt.Sprintf("router bgp %d", lab.ASN),
		"-c", fmt.Sprintf("neighbor %s remote-as %d", evpnSpeaker, lab.ASN),
		"-c", fmt.Sprintf("neighbor %s timers connect 1", evpnSpeaker),
		"-c", "address-family l2vpn evpn", "-c", fmt.Sprintf("neighbor %s activate", evpnSpeaker))
	if err != nil {
		sp.stop()
		return nil, err
	}
	return sp, nil
}

// type2 has the speaker announce n MAC-only type-2 routes to h2 and f2 at
// once (both tables encoded beforehand, written to both sessions
// together) and times until all are FDB entries on each, samples times.
// Between samples the speaker withdraws them all, the run waits until both
// deleted every entry and the daemons are quiet. The second row is each
// side's peak RSS (VmHWM, reset before each sample) while it took them in.
// logf gets a line per sample and withdrawal with its wall-clock times
// (diagnostics: to line up agents' profiles and traces with the phases).
func type2(ctx context.Context, l *lab.Lab, sp *speakerProc, n, samples int, logf func(string, ...any)) []Row {
	what := fmt.Sprintf("%s, n=%d", WhatType2, n)
	whatPeak := fmt.Sprintf("%s, n=%d", WhatType2Peak, n)
	h2, f2 := l.Host(2), l.FRR[1]
	ours := []int{h2.PID()}
	ref, err := frrPIDs(f2.Name, f2.PIDs())
	all := append(slices.Clone(ours), ref...)
	var to, tr []time.Duration
	var po, pr []float64
	var sent, withdrawn []string
	var loaded string
	var pss0o, pss0r, shared float64
	if err == nil {
		err = func() error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if _, err := sp.expect(ctx, "established"); err != nil {
				return err
			}
			if _, err := io.WriteString(sp.stdin, "load\n"); err != nil {
				return err
			}
			var err error
			if loaded, err = sp.expect(ctx, "loaded"); err != nil {
				return err
			}
			if pss0o, err = pssMB(ours); err != nil {
				return err
			}
			if pss0r, err = pssMB(ref); err != nil {
				return err
			}
			return nil
		}()
	}
	for s := 0; err == nil && s < samples; s++ {
		err = func() error {
			ctx, cancel := context.WithTimeout(ctx, 4*time.Minute+time.Duration(n)*2*time.Millisecond)
			defer cancel()
			if _, err := settle(ctx, all, time.Minute); err != nil {
				return fmt.Errorf("before sample %d: %w", s+1, err)
			}
			wo, err := lab.WatchNeigh(h2.NS, remoteFDBWithPrefix("02:e0:"))
			if err != nil {
				return err
			}
			defer wo.Close()
			wr, err := lab.WatchNeigh(f2.NS, remoteFDBWithPrefix("02:e0:"))
			if err != nil {
				return err
			}
			defer wr.Close()
			if err := resetPeak(all); err != nil {
				return err
			}
			// With -v, each side's CPU per intake: on 2 cores the wall
			// time follows it, so it tells a change apart from noise.
			cpuO, err := cpuNow(ours)
			if err != nil {
				return err
			}
			cpuR, err := cpuNow(ref)
			if err != nil {
				return err
			}
			fltO, err := minorFaults(ours)
			if err != nil {
				return err
			}
			fltR, err := minorFaults(ref)
			if err != nil {
				return err
			}
			start := time.Now()
			took, at, err := sp.step(ctx, "go", "sent", n, receiver{"h2", wo.WaitCount}, receiver{"f2", wr.WaitCount})
			if err != nil {
				return err
			}
			sent = append(sent, took)
			to, tr = append(to, at[0].Sub(start)), append(tr, at[1].Sub(start))
			logf("type2: sample %d: sent at %s; all in on h2 after %v, on f2 after %v", s+1, start.Format("15:04:05.000"),
				at[0].Sub(start).Round(time.Millisecond), at[1].Sub(start).Round(time.Millisecond))
			logf("type2: sample %d: entries in after (10/25/50/75/90/99 %%): h2 %v, f2 %v", s+1, arrivals(wo.Times(), start), arrivals(wr.Times(), start))
			// Both done, and done with the aftermath: then the peaks.
			if _, err := settle(ctx, all, time.Minute); err != nil {
				return fmt.Errorf("sample %d: %w", s+1, err)
			}
			o, err1 := cpuNow(ours)
			r, err2 := cpuNow(ref)
			fo, err3 := minorFaults(ours)
			fr, err4 := minorFaults(ref)
			if err := errors.Join(err1, err2, err3, err4); err == nil {
				logf("type2: sample %d: CPU from the send until quiet: h2's vxbgpd %v (%d minor faults), f2's zebra+bgpd %v (%d)", s+1,
					time.Duration(o.since(cpuO)).Round(time.Millisecond), fo-fltO, time.Duration(r.since(cpuR)).Round(time.Millisecond), fr-fltR)
			}
			p, err := peakMB(ours)
			if err != nil {
				return err
			}
			po = append(po, p)
			if p, err = peakMB(ref); err != nil {
				return err
			}
			pr = append(pr, p)
			if rss, err := rssMB(ref); err == nil {
				if pss, err := pssMB(ref); err == nil {
					shared = rss - pss
				}
			}
			// Back to the empty table for the next sample (and the rows
			// after this one).
			do, err := lab.WatchNeigh(h2.NS, deletedFDBWithPrefix("02:e0:"))
			if err != nil {
				return err
			}
			defer do.Close()
			dr, err := lab.WatchNeigh(f2.NS, deletedFDBWithPrefix("02:e0:"))
			if err != nil {
				return err
			}
			defer dr.Close()
			wstart := time.Now()
			if _, _, err := sp.step(ctx, "withdraw", "withdrawn", n, receiver{"h2 withdrawing", do.WaitCount}, receiver{"f2 withdrawing", dr.WaitCount}); err != nil {
				return err
			}
			withdrawn = append(withdrawn, time.Since(wstart).Round(time.Millisecond).String())
			logf("type2: sample %d: withdrawn at %s; both empty after %v", s+1, wstart.Format("15:04:05.000"), time.Since(wstart).Round(time.Millisecond))
			return nil
		}()
	}
	alone := "not run"
	if err == nil {
		var ao, ar []time.Duration
		ao, ar, err = type2Alone(ctx, l, sp, all, n, alonePairs, logf)
		if err == nil {
			mo, mr := medianD(ao), medianD(ar)
			alone = fmt.Sprintf("ours %v, FRR %v (medians of %d each, alternating which goes first; ×%.2f)",
				mo.Round(time.Millisecond), mr.Round(time.Millisecond), alonePairs, float64(mo)/float64(mr))
		}
	}
	row := latencyRow(what, refFRR, to, tr)
	row.Note = fmt.Sprintf("%s; from the speaker writing its table to h2 and f2 at once (both encoded beforehand, %s; written in %v) until all are FDB entries on each; between samples all withdrawn (both sides empty after %v) and the daemons quiet; diagnostic, each side alone with the other idle: %s",
		nSamples(len(to)), strings.TrimPrefix(loaded, "loaded "), sent, withdrawn, alone)
	peak := sampleRow(whatPeak, refFRRDaemons, "MB", po, pr)
	peak.Note = fmt.Sprintf("peak RSS (VmHWM, reset with clear_refs before each sample) of h2's vxbgpd vs. f2's zebra+bgpd summed, read once all were in and the daemons quiet; per sample in order, MB: ours %.0f, ref %.0f; PSS before the first sample %.0f MB ours, %.0f MB ref; RSS counts FRR's shared libraries once per daemon (%.0f MB more than PSS at the end)",
		po, pr, pss0o, pss0r, shared)
	if err != nil {
		row.Err, peak.Err = err.Error(), err.Error()
	}
	return []Row{row, peak}
}

// alonePairs is how many times each type-2 receiver takes the table in
// alone (type2Alone).
const alonePairs = 3

// arrivals is when the 10th, 25th, 50th, 75th, 90th and 99th percent of
// times came, after start: where in an intake a side is slower.
func arrivals(times []time.Time, start time.Time) []time.Duration {
	var out []time.Duration
	if len(times) == 0 {
		return out
	}
	for _, q := range []int{10, 25, 50, 75, 90, 99} {
		out = append(out, times[(len(times)-1)*q/100].Sub(start).Round(10*time.Millisecond))
	}
	return out
}
