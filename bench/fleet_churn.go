package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// churnRow deletes fz.churn pods and creates as many, spread over the
// hosts (round-robin from a different host each round, the oldest pod but
// the first on each), fz.workers CNI calls at a time, DELs and ADDs
// interleaved; a sample runs from the first CNI call until every other
// host deleted each deleted pod's FDB entry (netlink notifications),
// every other host added each new pod's, and the first pod of every other
// host reached each new pod (its request needs its host's entry, the
// answer the new pod's host's entry for it). A settle barrier precedes
// each round; the FDB of every host is checked against the conclusion
// after each (untimed).
func (f *fleet) churnRow(ctx context.Context) Row {
	fz := f.fz
	row := Row{What: WhatFleetChurn, Unit: "ms", RefName: noRef}
	var samples, cniD, goneD, progD, reachD []time.Duration
	for round := range fz.rounds {
		rr, cl, err := f.agentPIDs()
		if err != nil {
			row.Err = err.Error()
			return row
		}
		if _, err := f.settle(ctx, append(rr, cl...)); err != nil {
			row.Err = fmt.Sprintf("round %d: %v", round+1, err)
			return row
		}
		victims, news := f.pickChurn(round)
		var pairs []*pair
		for _, np := range news {
			for i, ps := range f.pods {
				if i != np.host {
					pairs = append(pairs, &pair{from: ps[0], to: np})
				}
			}
		}
		f.tr.startPhase(pairs) // the first pods are known: each pair's gate opens as its new pod is created
		pctx, cancel := context.WithTimeout(ctx, min(fz.deadline, 2*time.Minute))
		t0 := time.Now()
		probed := make(chan error, 1)
		var reachAt time.Time
		go func() {
			var err error
			reachAt, err = f.tr.probe(pctx)
			probed <- err
		}()
		cniAt, err := f.parallel(pctx, 2*len(victims), func(ctx context.Context, i int) error {
			if i%2 == 0 {
				v := victims[i/2]
				f.tr.podGone(v)
				return f.l.DelPod(ctx, v.pod)
			}
			np := news[i/2]
			p, err := f.l.Pod(ctx, f.l.Hosts[np.host], np.name)
			if err != nil {
				return err
			}
			f.tr.podReady(np, p)
			return nil
		})
		if err != nil {
			cancel()
			<-probed
			row.Err = fmt.Sprintf("round %d: %v", round+1, err)
			return row
		}
		perr := <-probed
		goneAt, gerr := f.tr.gone(pctx, victims, t0)
		progAt, aerr := f.tr.programmed(pctx, news)
		cancel()
		for _, e := range []error{perr, gerr, aerr} {
			if e != nil {
				row.Err = fmt.Sprintf("round %d: %v", round+1, e)
				return row
			}
		}
		end := reachAt
		for _, t := range []time.Time{goneAt, progAt} {
			if t.After(end) {
				end = t
			}
		}
		samples = append(samples, end.Sub(t0))
		cniD, goneD = append(cniD, cniAt.Sub(t0)), append(goneD, goneAt.Sub(t0))
		progD, reachD = append(progD, progAt.Sub(t0)), append(reachD, reachAt.Sub(t0))
		f.replace(victims, news)
		if err := f.tr.checkKernel(ctx, news, victims); err != nil {
			row.Err = fmt.Sprintf("round %d: %v", round+1, err)
			return row
		}
	}
	row = latencyRow(WhatFleetChurn, noRef, samples, nil)
	row.Note = fmt.Sprintf("%d pods deleted and %d created a round across %d hosts (CNI DEL/ADD, %d at a time), %s; from the first CNI call (medians): "+
		"last CNI call returned %s, every deleted pod's FDB entry gone from every other host %s, every new pod's added on every other host %s, "+
		"every new pod answering every other host's first pod %s",
		fz.churn, fz.churn, min(fz.churn, fz.hosts), fz.workers, nSamples(len(samples)),
		fmtDur(medianD(cniD)), fmtDur(medianD(goneD)), fmtDur(medianD(progD)), fmtDur(medianD(reachD)))
	return row
}

// pickChurn chooses a round's victims and names their replacements: host
// after host, from host `round` on, each time the oldest pod but the first
// of that host; each replacement lives on its victim's host.
func (f *fleet) pickChurn(round int) (victims, news []*fleetPod) {
	taken := make([]int, len(f.pods)) // victims taken from each host so far
	for n := 0; len(victims) < f.fz.churn; n++ {
		i := (round + n) % len(f.pods)
		if 1+taken[i] >= len(f.pods[i]) {
			if n > f.fz.churn*len(f.pods) {
				break // not enough pods; preflight prevents it
			}
			continue
		}
		taken[i]++
		victims = append(victims, f.pods[i][taken[i]])
		news = append(news, &fleetPod{name: fmt.Sprintf("h%dp%d", i+1, f.next[i]), host: i})
		f.next[i]++
	}
	return victims, news
}

// replace swaps each victim for its replacement in the host's list (at
// the end: the oldest pods are churned first).
func (f *fleet) replace(victims, news []*fleetPod) {
	for k, v := range victims {
		ps := f.pods[v.host]
		for j, p := range ps {
			if p == v {
				f.pods[v.host] = append(append(ps[:j:j], ps[j+1:]...), news[k])
				break
			}
		}
	}
}

func medianD(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
