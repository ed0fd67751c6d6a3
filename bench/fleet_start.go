package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// startup starts every agent at once, creates the pods once the agents
// answer, and times the last agent's start until every sampled pair
// answered. It returns the reachability row and the clients' CPU row.
func (f *fleet) startup(ctx context.Context) []Row {
	fz := f.fz
	reach := Row{What: WhatFleetReach, Unit: "s", RefName: "target", Ref: targetReach.Seconds(), N: 1}
	cpu := Row{What: WhatFleetCPU, Unit: "s of CPU", RefName: noRef}
	fail := func(err error) []Row {
		reach.Err, cpu.Err = err.Error(), "not measured: the fleet did not converge"
		return []Row{reach, cpu}
	}
	pairs, jobs := f.sample()
	f.tr.startPhase(pairs)
	// Not a failure: the figure stands, with a note that says the
	// machine was busy (another test, say) when the fleet started.
	if waited, err := settleMachine(ctx, 30*time.Second); err != nil {
		f.notef("fleet startup: started on a busy machine: %v", err)
	} else {
		f.notef("fleet startup: the machine was quiet (under %.0f %% busy in two 500 ms windows) %v after the lab was built", 100*machineQuiet, waited.Round(time.Millisecond))
	}
	m0, err := takeMachineCPU()
	if err != nil {
		return fail(err)
	}
	t0, err := f.l.SpawnAll()
	if err != nil {
		return fail(err)
	}
	pctx, cancel := context.WithDeadline(ctx, t0.Add(fz.deadline))
	defer cancel()
	type result struct {
		at  time.Time
		err error
	}
	probed := make(chan result, 1)
	go func() {
		at, err := f.tr.probe(pctx)
		probed <- result{at, err}
	}()
	for _, h := range f.l.Hosts {
		if err := h.WaitReady(pctx); err != nil {
			cancel()
			<-probed
			return fail(fmt.Errorf("agents ready: %w", err))
		}
	}
	readyAt := time.Now()
	podsAt, err := f.createPods(pctx, jobs)
	if err != nil {
		cancel()
		<-probed
		return fail(fmt.Errorf("create pods: %w", err))
	}
	res := <-probed
	// What the window cost, read at once.
	m1, merr := takeMachineCPU()
	rr, cl, perr := f.agentPIDs()
	var perAgent []float64
	var rrCPU []float64
	if perr == nil {
		rrCPU, perr = lifeCPU(rr)
	}
	if perr == nil {
		perAgent, perr = lifeCPU(cl)
	}
	if res.err != nil {
		return fail(fmt.Errorf("reachability: %w", res.err))
	}
	all := f.allPods()
	progAt, err := f.tr.programmed(pctx, all)
	if err != nil {
		return fail(fmt.Errorf("kernel entries: %w", err))
	}
	took := res.at.Sub(t0)
	reach.Ours = took.Seconds()
	reach.Ratio = reach.Ours / reach.Ref
	times := f.tr.pairTimes(t0)
	verdict := "met"
	if took > targetReach {
		verdict = "MISSED"
	}
	reach.Note = fmt.Sprintf("target ≤ %v %s; %d hosts x %d pods, %d sampled pairs (every pod -> every other host's first pod, + %d random pods elsewhere); "+
		"from the last agent's start: every agent answering its API %s, last pod created (CNI ADD, %d at a time) %s, "+
		"every host holding every other pod's FDB entry %s, median pair answered %s, last %s; %s; 1 sample",
		targetReach, verdict, fz.hosts, fz.pods, len(times), fz.k, fmtSince(t0, readyAt), fz.workers, fmtSince(t0, podsAt),
		fmtSince(t0, progAt), fmtDur(times[len(times)/2]), fmtDur(times[len(times)-1]), f.tr.waits(t0))
	for _, snap := range f.tr.snapshots() {
		f.notef("fleet startup, a slow pair (diagnostic): %s", snap)
	}
	if merr == nil && perr == nil {
		f.notef("fleet startup, CPU from the last agent's start until every pair answered (%.1f s, %.1f s of CPU on %d cores): %s",
			took.Seconds(), took.Seconds()*float64(m1.cores), m1.cores, m1.since(m0).breakdown(sum(rrCPU), sum(perAgent)))
	}
	if perr != nil {
		cpu.Err = perr.Error()
	} else {
		cpu = sampleRow(WhatFleetCPU, noRef, "s of CPU", perAgent, nil)
		cpu.Note = fmt.Sprintf("each client agent's CPU (schedstat, all threads) from its start until every pair answered; reflectors %s: %s", f.hostNames(rangeN(fz.reflectors)), statLine(rrCPU, "s"))
	}
	if err := f.checkFleet(ctx, all); err != nil {
		reach.Err = err.Error()
	}
	return []Row{reach, cpu}
}

// checkFleet checks, untimed, what the converged fleet must show: every
// client with exactly one established session to each reflector, every
// reflector with one to every other host, a few hosts listing every
// member alive, and every host's FDB holding every other pod. Sessions
// and members may lag reachability (a small fleet's pods reach each
// other through one reflector before the other's sessions are up), so
// they get a minute.
func (f *fleet) checkFleet(ctx context.Context, all []*fleetPod) error {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := lab.Eventually(wctx, "every session established and every member alive", time.Second, func(ctx context.Context) (bool, error) {
		err := f.checkSessions(ctx)
		return err == nil, err
	})
	if err != nil {
		return err
	}
	f.notef("fleet: checked after startup: each client has exactly %d established sessions (the reflectors), each reflector %d; h1 and h%d list all %d members alive",
		f.fz.reflectors, len(f.l.Hosts)-1, len(f.l.Hosts), len(f.l.Hosts))
	return f.tr.checkKernel(ctx, all, nil)
}

// checkSessions is checkFleet's sessions and members, once.
func (f *fleet) checkSessions(ctx context.Context) error {
	var rrAddrs []string
	for _, h := range f.l.Hosts[:f.fz.reflectors] {
		rrAddrs = append(rrAddrs, h.Addr)
	}
	for _, h := range f.l.Hosts {
		peers, err := h.Peers(ctx)
		if err != nil {
			return err
		}
		var up []string
		for _, p := range peers {
			if strings.EqualFold(p.State, "established") {
				up = append(up, p.Address)
			}
		}
		want := len(f.l.Hosts) - 1
		if h.Index > f.fz.reflectors {
			want = len(rrAddrs)
			for _, a := range rrAddrs {
				if !containsStr(up, a) {
					return fmt.Errorf("client %s: no established session to reflector %s (up: %v)", h.Name, a, up)
				}
			}
		}
		if len(peers) != want || len(up) != want {
			return fmt.Errorf("%s: %d sessions, %d established, want %d", h.Name, len(peers), len(up), want)
		}
	}
	for _, h := range []*lab.Host{f.l.Hosts[0], f.l.Hosts[len(f.l.Hosts)-1]} {
		ms, err := h.Members(ctx)
		if err != nil {
			return err
		}
		alive := 0
		for _, m := range ms {
			if m.State == "alive" && !m.Masked {
				alive++
			}
		}
		if alive != len(f.l.Hosts) {
			return fmt.Errorf("%s lists %d members alive and unmasked, want %d", h.Name, alive, len(f.l.Hosts))
		}
	}
	return nil
}

// idleRows lets the fleet settle, then samples every agent's CPU over the
// idle window, in three parts, and its PSS at the end of each.
func (f *fleet) idleRows(ctx context.Context) []Row {
	pss := Row{What: WhatFleetPSS, Unit: "MB", RefName: noRef}
	cpu := Row{What: WhatFleetIdleCPU, Unit: "% of a core", RefName: noRef}
	fail := func(err error) []Row {
		pss.Err, cpu.Err = err.Error(), err.Error()
		return []Row{pss, cpu}
	}
	rr, cl, err := f.agentPIDs()
	if err != nil {
		return fail(err)
	}
	pids := append(rr, cl...)
	wait, err := f.settle(ctx, pids)
	if err != nil {
		return fail(err)
	}
	var pssV, cpuV []float64
	var rrPSS, rrCPU []float64
	third := f.fz.idle / 3
	for range 3 {
		before := map[int]cpuTimes{}
		for _, pid := range pids {
			if before[pid], err = cpuNow([]int{pid}); err != nil {
				return fail(err)
			}
		}
		t0 := time.Now()
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(third):
		}
		el := time.Since(t0)
		for i, pid := range pids {
			now, err := cpuNow([]int{pid})
			if err != nil {
				return fail(err)
			}
			c := 100 * float64(now.since(before[pid])) / float64(el.Nanoseconds())
			m, err := pssMB([]int{pid})
			if err != nil {
				return fail(err)
			}
			if i < len(rr) {
				rrCPU, rrPSS = append(rrCPU, c), append(rrPSS, m)
			} else {
				cpuV, pssV = append(cpuV, c), append(pssV, m)
			}
		}
	}
	pss = sampleRow(WhatFleetPSS, noRef, "MB", append(slicesClone(pssV), rrPSS...), nil)
	pss.Note = fmt.Sprintf("PSS (smaps_rollup) of each agent at the end of each third of a %v window after a settle barrier (%v); clients %s, reflectors %s",
		f.fz.idle, wait.Round(time.Millisecond), statLine(pssV, "MB"), statLine(rrPSS, "MB"))
	cpu = sampleRow(WhatFleetIdleCPU, noRef, "% of a core", append(slicesClone(cpuV), rrCPU...), nil)
	cpu.Note = fmt.Sprintf("each agent's CPU (schedstat) over each third of the window; clients %s, reflectors %s; all %d agents together %.1f %% of a core",
		statLine(cpuV, "%"), statLine(rrCPU, "%"), len(pids), (sum(cpuV)+sum(rrCPU))/3)
	return []Row{pss, cpu}
}

// peakRows reads every agent's VmHWM, the peak over the whole run
// (startup, idle and churn).
func (f *fleet) peakRows() []Row {
	rows := []Row{{What: WhatFleetRSS, Unit: "MB"}, {What: WhatFleetRSSRR, Unit: "MB"}}
	rr, cl, err := f.agentPIDs()
	for i, pids := range [][]int{cl, rr} {
		r := &rows[i]
		r.RefName, r.Ref = "target, each", targetRSSMB
		if err != nil {
			r.Err = err.Error()
			continue
		}
		var v []float64
		var worst string
		for j, pid := range pids {
			m, err := peakMB([]int{pid})
			if err != nil {
				r.Err = err.Error()
				break
			}
			if len(v) == 0 || m > slicesMax(v) {
				h := f.l.Hosts[j]
				if i == 0 {
					h = f.l.Hosts[f.fz.reflectors+j]
				}
				worst = h.Name
			}
			v = append(v, m)
		}
		if r.Err != "" {
			continue
		}
		*r = sampleRow(r.What, "target, each", "MB", v, nil)
		r.Ref, r.Ratio = targetRSSMB, slicesMax(v)/targetRSSMB
		verdict := "met"
		if slicesMax(v) > targetRSSMB {
			verdict = "MISSED"
		}
		r.Note = fmt.Sprintf("VmHWM of each agent, its peak over the whole run (startup, idle, churn); the largest %.1f MB (%s) vs target ≤ %.0f MB: %s; ratio: the largest over the target",
			slicesMax(v), worst, targetRSSMB, verdict)
	}
	return rows
}

// settle waits until the agents together use less than 1 % of a core per
// 20 agents... at least the bench's usual 5 %: an idle agent's memberlist
// probes and keepalives cost a little each, and 50 of them add up.
func (f *fleet) settle(ctx context.Context, pids []int) (time.Duration, error) {
	below := max(quietBelow, 0.01*float64(len(pids)))
	return settleBelow(ctx, pids, 2*time.Minute, below)
}

func (f *fleet) allPods() []*fleetPod {
	var out []*fleetPod
	for _, ps := range f.pods {
		out = append(out, ps...)
	}
	return out
}
