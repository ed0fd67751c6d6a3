package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// The fleet part (-only fleet, not in -quick): hosts found by discovery
// (memberlist, one seed), the first `reflectors` of them in-cluster route
// reflectors and every other a client (bgp.mesh: false), `pods` pods on
// each; every agent started at once, then the pods created through the
// real CNI plugin. It measures the time from the last agent's start until
// every pod reaches its sample, each agent's memory and CPU, and churn.

// Row names of the fleet part (FleetExpected lists them).
const (
	WhatFleetReach   = "fleet: last agent started -> every pod reaches its sample"
	WhatFleetRSS     = "fleet: agent peak RSS (VmHWM), clients"
	WhatFleetRSSRR   = "fleet: agent peak RSS (VmHWM), reflectors"
	WhatFleetPSS     = "fleet: agent idle PSS, every agent"
	WhatFleetCPU     = "fleet: agent CPU from its start until reachable, clients"
	WhatFleetIdleCPU = "fleet: agent idle CPU, every agent"
	WhatFleetChurn   = "fleet churn: pods deleted and created until programmed everywhere"
)

// FleetExpected lists every row of a fleet run.
var FleetExpected = []string{WhatFleetReach, WhatFleetRSS, WhatFleetRSSRR, WhatFleetPSS, WhatFleetCPU, WhatFleetIdleCPU, WhatFleetChurn}

// The targets for a 50-host fleet through two reflectors.
const (
	targetReach = 60 * time.Second
	targetRSSMB = 60.0
)

// fleetSize is the shape of a fleet run.
type fleetSize struct {
	hosts, pods, reflectors int
	k                       int // random pods on other hosts each pod pings besides every other host's first pod
	churn, rounds           int // pods deleted (and as many created) a round; rounds (samples)
	workers                 int // CNI calls in parallel
	idle                    time.Duration
	deadline                time.Duration // for each phase to converge
}

func (c Config) fleetSize() fleetSize {
	fz := fleetSize{hosts: 50, pods: 20, reflectors: 2, k: 3, churn: 100, rounds: 3, workers: 4,
		idle: 15 * time.Second, deadline: 5 * time.Minute}
	if c.Fleet > 0 {
		fz.hosts = c.Fleet
	}
	if c.FleetPods > 0 {
		fz.pods = c.FleetPods
	}
	if c.FleetChurn > 0 {
		fz.churn = c.FleetChurn
	}
	if fz.hosts < 10 {
		fz.idle, fz.deadline = 3*time.Second, time.Minute
	}
	return fz
}

// fleet is one fleet run's lab and pods.
type fleet struct {
	fz    fleetSize
	l     *lab.Lab
	tr    *tracker
	pods  [][]*fleetPod // per host, in creation order
	next  []int         // per host: the next pod number
	rng   *rand.Rand
	notes []string
}

func (f *fleet) notef(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

// fleetSuite runs the fleet part.
func fleetSuite(ctx context.Context, c Config) ([]Row, []string) {
	fz := c.fleetSize()
	failAll := func(err error) ([]Row, []string) {
		var rows []Row
		for _, w := range FleetExpected {
			rows = append(rows, errRow(w, "", err))
		}
		return rows, nil
	}
	if err := preflight(fz); err != nil {
		return failAll(err)
	}
	restore, did, err := raiseARP(fz.estimate().arp)
	if err != nil {
		return failAll(err)
	}
	defer func() {
		if err := restore(); err != nil {
			c.Logf("fleet: restore ARP thresholds: %v", err)
		}
	}()
	off := false
	l, closeLab, err := newLab(ctx, c, lab.Options{Hosts: fz.hosts, Discovery: true, NoStart: true,
		Configure: func(h *lab.Host, hc *lab.HostConfig) {
			if h.Index <= fz.reflectors {
				hc.BGP.RouteReflector = &lab.RouteReflectorConfig{Enabled: true}
			} else {
				hc.BGP.Mesh = &off
			}
		}})
	if err != nil {
		return failAll(err)
	}
	defer closeLab()
	tr, err := newTracker(l.Hosts)
	if err != nil {
		return failAll(err)
	}
	defer tr.close()
	f := &fleet{fz: fz, l: l, tr: tr, pods: make([][]*fleetPod, fz.hosts), next: make([]int, fz.hosts),
		rng: rand.New(rand.NewPCG(1, uint64(fz.hosts)))}
	f.notef("fleet: %d hosts (h1..h%d route reflectors, the rest clients with bgp.mesh false), %d pods each, discovery from one seed (h1)",
		fz.hosts, fz.reflectors, fz.pods)
	if did != "" {
		f.notef("fleet: %s", did)
	}
	rows := f.startup(ctx)
	if rows[0].Err != "" {
		for _, w := range FleetExpected {
			if !slices.ContainsFunc(rows, func(r Row) bool { return r.What == w }) {
				rows = append(rows, errRow(w, "", errors.New("not measured: the fleet did not converge")))
			}
		}
		return rows, f.notes
	}
	rows = append(rows, f.idleRows(ctx)...)
	rows = append(rows, f.churnRow(ctx))
	rows = append(rows, f.peakRows()...)
	// Table order.
	order := map[string]int{}
	for i, w := range FleetExpected {
		order[w] = i
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return order[a.What] - order[b.What] })
	return rows, f.notes
}

// agentPIDs are every agent's PIDs (reflectors first); a missing agent is
// an error, never a 0.
func (f *fleet) agentPIDs() (reflectors, clients []int, err error) {
	for _, h := range f.l.Hosts {
		pid := h.PID()
		if pid <= 0 || !h.Running() {
			return nil, nil, fmt.Errorf("%s: vxbgpd not running", h.Name)
		}
		if h.Index <= f.fz.reflectors {
			reflectors = append(reflectors, pid)
		} else {
			clients = append(clients, pid)
		}
	}
	return reflectors, clients, nil
}

// sample draws the startup pairs: every pod pings the first pod of every
// other host (so every host must hold every pod's entries: the first pod's
// answer to pod a on X goes out through its host's entry for a) and k
// random pods on other hosts (so pods other than the first are targets
// too). Pods are created in rounds (every host's first pod, then every
// host's second, ...) so the first pods exist early.
func (f *fleet) sample() (pairs []*pair, jobs []*fleetPod) {
	fz := f.fz
	for j := 1; j <= fz.pods; j++ {
		for i := range fz.hosts {
			fp := &fleetPod{name: fmt.Sprintf("h%dp%d", i+1, j), host: i}
			f.pods[i] = append(f.pods[i], fp)
			f.next[i] = j + 1
			jobs = append(jobs, fp)
		}
	}
	for _, a := range jobs {
		picked := map[*fleetPod]bool{}
		for i := range fz.hosts {
			if i != a.host {
				picked[f.pods[i][0]] = true
				pairs = append(pairs, &pair{from: a, to: f.pods[i][0]})
			}
		}
		for range fz.k {
			for try := 0; try < 100; try++ {
				b := jobs[f.rng.IntN(len(jobs))]
				if b.host != a.host && !picked[b] {
					picked[b] = true
					pairs = append(pairs, &pair{from: a, to: b})
					break
				}
			}
		}
	}
	return pairs, jobs
}

// createPods runs CNI ADD for each of jobs, fz.workers at a time, telling
// the tracker as each returns; it returns when the last returned.
func (f *fleet) createPods(ctx context.Context, jobs []*fleetPod) (time.Time, error) {
	return f.parallel(ctx, len(jobs), func(ctx context.Context, i int) error {
		fp := jobs[i]
		p, err := f.l.Pod(ctx, f.l.Hosts[fp.host], fp.name)
		if err != nil {
			return err
		}
		f.tr.podReady(fp, p)
		return nil
	})
}

// parallel runs do(0..n-1), fz.workers at a time, and returns when the
// last ended; the first error stops the rest.
func (f *fleet) parallel(ctx context.Context, n int, do func(ctx context.Context, i int) error) (time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	work := make(chan int)
	for range f.fz.workers {
		wg.Go(func() {
			for i := range work {
				if err := do(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return time.Now(), first
}

// fmtSince is d from t0 in seconds.
func fmtSince(t0, t time.Time) string { return fmt.Sprintf("+%.1f s", t.Sub(t0).Seconds()) }

// statLine renders samples as "median (min–max)".
func statLine(v []float64, unit string) string {
	if len(v) == 0 {
		return "none"
	}
	return fmt.Sprintf("%.1f %s (%.1f–%.1f)", medianF(v), unit, slices.Min(v), slices.Max(v))
}

// hostNames names hosts by their indexes, for notes.
func (f *fleet) hostNames(idx []int) string {
	var out []string
	for _, i := range idx {
		out = append(out, f.l.Hosts[i].Name)
	}
	return strings.Join(out, ",")
}
