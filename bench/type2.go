package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

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
// together) and times until all are FDB entries on each, samples times,
// each receiver on half of the CPUs, the halves swapped every sample
// (cores.go says why). Between samples the speaker withdraws them all, the
// run waits until both deleted every entry and the daemons are quiet. The
// second row is each side's peak RSS (VmHWM, reset before each sample)
// while it took them in. The note adds two diagnostics: the same race with
// the cores shared, and each side alone (type2Alone). logf gets a line per
// sample and withdrawal with its wall-clock times (diagnostics: to line up
// agents' profiles and traces with the phases).
func type2(ctx context.Context, l *lab.Lab, sp *speakerProc, n, samples int, logf func(string, ...any)) []Row {
	what := fmt.Sprintf("%s, n=%d", WhatType2, n)
	whatPeak := fmt.Sprintf("%s, n=%d", WhatType2Peak, n)
	r := &type2Race{l: l, sp: sp, n: n, logf: logf, ours: []int{l.Host(2).PID()}}
	f2 := l.FRR[1]
	ref, err := frrPIDs(f2.Name, f2.PIDs())
	r.ref = ref
	var loaded string
	var pss0o, pss0r float64
	if err == nil {
		loaded, pss0o, pss0r, err = r.load(ctx)
	}
	split, splitErr := splitCores()
	pinning := "each on half of the CPUs, the halves swapped every sample (bench/README.md, Cores of their own)"
	if splitErr != nil {
		pinning = fmt.Sprintf("WARNING: the cores shared, as the bench cannot give each its own (%v)", splitErr)
	}
	var pinned, shared []type2Sample
	for s := 0; err == nil && s < samples; s++ {
		var halves *[2]unix.CPUSet
		if splitErr == nil {
			halves = &[2]unix.CPUSet{split.halves[s%2], split.halves[1-s%2]}
		}
		var x type2Sample
		if x, err = r.sample(ctx, fmt.Sprintf("sample %d", s+1), halves); err == nil {
			pinned = append(pinned, x)
		}
	}
	if splitErr == nil {
		if perr := pinProcs(append(slices.Clone(r.ours), r.ref...), &split.all); err == nil {
			err = perr
		}
	}
	sharedNote, alone := "not run", "not run"
	if err == nil && splitErr == nil {
		for s := 0; err == nil && s < min(samples, sharedSamples); s++ {
			var x type2Sample
			if x, err = r.sample(ctx, fmt.Sprintf("cores shared, sample %d", s+1), nil); err == nil {
				shared = append(shared, x)
			}
		}
		if err == nil {
			to, tr := timesOf(shared)
			mo, mr := medianD(to), medianD(tr)
			sharedNote = fmt.Sprintf("ours %v, FRR %v (medians of %d; ×%.2f)", mo.Round(time.Millisecond), mr.Round(time.Millisecond),
				len(shared), float64(mo)/float64(mr))
		}
	}
	if err == nil {
		var ao, ar []time.Duration
		ao, ar, err = type2Alone(ctx, l, sp, r.all(), n, alonePairs, logf)
		if err == nil {
			mo, mr := medianD(ao), medianD(ar)
			alone = fmt.Sprintf("ours %v, FRR %v (medians of %d each, alternating which goes first; ×%.2f)",
				mo.Round(time.Millisecond), mr.Round(time.Millisecond), alonePairs, float64(mo)/float64(mr))
		}
	}
	to, tr := timesOf(pinned)
	row := latencyRow(what, refFRR, to, tr)
	var sent, withdrawn []string
	var po, pr []float64
	var rssOverPSS float64
	for _, x := range pinned {
		sent, withdrawn = append(sent, x.sent), append(withdrawn, x.withdrawn)
		po, pr = append(po, x.peakO), append(pr, x.peakR)
		rssOverPSS = x.rssOverPSS
	}
	row.Note = fmt.Sprintf("%s; from the speaker writing its table to h2 and f2 at once (both encoded beforehand, %s; written in %v), %s, until all are FDB entries on each; between samples all withdrawn (both sides empty after %v) and the daemons quiet; diagnostics: the same race with the cores shared: %s; each side alone with the other idle, all cores: %s",
		nSamples(len(to)), strings.TrimPrefix(loaded, "loaded "), sent, pinning, withdrawn, sharedNote, alone)
	peak := sampleRow(whatPeak, refFRRDaemons, "MB", po, pr)
	peak.Note = fmt.Sprintf("peak RSS (VmHWM, reset with clear_refs before each sample) of h2's vxbgpd vs. f2's zebra+bgpd summed, read once all were in and the daemons quiet; per sample in order, MB: ours %.0f, ref %.0f; PSS before the first sample %.0f MB ours, %.0f MB ref; RSS counts FRR's shared libraries once per daemon (%.0f MB more than PSS at the end)",
		po, pr, pss0o, pss0r, rssOverPSS)
	if err != nil {
		row.Err, peak.Err = err.Error(), err.Error()
	}
	return []Row{row, peak}
}

// sharedSamples is how many samples the type-2 row's shared-cores
// diagnostic takes.
const sharedSamples = 3

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
