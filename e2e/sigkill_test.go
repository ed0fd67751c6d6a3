package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestSIGKILL: the agent is SIGKILLed at random
// instants, at least 20 times, in four phases on one 3-host overlay lab:
//
//   - start-up: spawned and killed 0-300 ms later, once or twice in a
//     row, after pods came and went on it and on another host while it was
//     down;
//   - mid-reconcile: h1 replaces its 1,000 stored endpoints (records in
//     its address store and local-API PUT/DELETE, as the plugin does) with
//     1,000 others, and either h2 is killed while it programs them, or h2
//     is restarted into that work and killed, or h1 is killed while it
//     announces them;
//   - a CNI burst: pods added and deleted by the real vxbgp-cni on one host
//     while that host's agent or another's is killed and started again;
//   - a mode switch: a host restarted with the other --mode and killed
//     0-400 ms later, then started in the new mode or back in the old one.
//
// After each trial the killed agent is started again, and once every
// agent is synced every host's kernel must hold exactly what the lab's
// pods, endpoints and modes call for (lab.ExpectedKernel: FDB entries,
// flood entries, neighbours, block routes, the VXLAN device), compared
// line by line, and every agent's local API must list exactly its host's
// endpoints (what its store holds). The random choices come from a seed
// that the test logs; VXBGP_SIGKILL_SEED=<seed> replays them (the timing
// of the machine cannot be replayed). VXBGP_SIGKILL_SCALE=<n> runs n times
// the trials, for soak runs.
func TestSIGKILL(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VXBGP_SIGKILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		must(t, err)
		seed = v
	}
	scale := 1
	if s := os.Getenv("VXBGP_SIGKILL_SCALE"); s != "" {
		v, err := strconv.Atoi(s)
		must(t, err)
		scale = max(v, 1)
	}
	t.Logf("SIGKILL seed %d (replay the random choices with VXBGP_SIGKILL_SEED=%d)", seed, seed)
	ctx := testCtx(t, time.Duration(scale)*6*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3})
	r := &killRun{t: t, ctx: ctx, l: l, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5161)),
		modes: map[*lab.Host]string{}, kills: map[string]int{}}
	for _, h := range l.Hosts {
		r.modes[h] = modeOverlay
	}
	addPods(t, ctx, l, 1)
	converge(t, ctx, l)
	r.settle("start")
	r.checkOracle()

	r.startup(6 * scale)
	r.midReconcile(6 * scale)
	r.cniBurst(4 * scale)
	r.modeSwitch(6 * scale)

	total := 0
	for _, n := range r.kills {
		total += n
	}
	t.Logf("SIGKILL: %d kills in all: %d during start-up, %d mid-reconcile with %d endpoints, %d during a CNI burst, %d during a mode switch; %d trials, each ending with every kernel exact",
		total, r.kills[phaseStartup], r.kills[phaseReconcile], bulkSize, r.kills[phaseBurst], r.kills[phaseSwitch], r.trials)
	t.Logf("SIGKILL: mid-reconcile kills by where they landed: %v", r.landed)
	t.Logf("TIMING: a trial's last step (the killed agent's restart, or the end of the CNI burst) until every kernel is exact: %s", lab.Summary(r.exact))
	if total < 20 {
		t.Errorf("%d kills, want at least 20", total)
	}
	if r.landed[landedMid] == 0 {
		t.Errorf("no mid-reconcile kill landed while h2 was programming (%v): the windows no longer fit this machine", r.landed)
	}
}

// The phases, as counted.
const (
	phaseStartup   = "start-up"
	phaseReconcile = "mid-reconcile"
	phaseBurst     = "cni burst"
	phaseSwitch    = "mode switch"
)

// killRun is the state of one TestSIGKILL run: what the lab should hold
// (modes, stored endpoints; pods are the lab's) and the counts.
type killRun struct {
	t    *testing.T
	ctx  context.Context
	l    *lab.Lab
	seed uint64
	rng  *rand.Rand

	modes map[*lab.Host]string
	bulk  []lab.StoredEndpoint // live on h1
	batch int                  // the next batch's number

	trials int
	kills  map[string]int
	landed map[string]int  // mid-reconcile kills by landedMid etc.
	exact  []time.Duration // per trial: from its last step until exact
}

// settleTimeout bounds the wait for exact kernels once every agent is
// synced: below the endpoint store's 10 s resync and the reconciler's
// 30 s, so a stale or missing entry that only a periodic pass would
// repair fails the trial.
const settleTimeout = 8 * time.Second

// delay returns a random duration in [0, max].
func (r *killRun) delay(max time.Duration) time.Duration {
	return time.Duration(r.rng.Int64N(int64(max) + 1))
}

// sleep waits d, or fails the test when it ends first.
func (r *killRun) sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.ctx.Done():
		r.t.Fatalf("test ended: %v", r.ctx.Err())
	}
}

// kill SIGKILLs h's agent as one kill of phase.
func (r *killRun) kill(phase string, h *lab.Host) {
	r.t.Helper()
	if !h.Running() {
		r.t.Fatalf("%s: vxbgpd on %s is not running when it should be killed:\n%s", phase, h.Name, h.LastRunLog())
	}
	must(r.t, h.Kill(r.ctx))
	r.kills[phase]++
}

// crash SIGKILLs h's agent to start a trial from (not counted).
func (r *killRun) crash(h *lab.Host) { must(r.t, h.Kill(r.ctx)) }

// want is what the lab should hold now.
func (r *killRun) want() lab.Want {
	w := lab.Want{Modes: r.modes, Endpoints: r.l.Located()}
	for _, e := range r.bulk {
		w.Endpoints = append(w.Endpoints, lab.Located{Name: e.ContainerID, ContainerID: e.ContainerID, MAC: e.MAC, IP: e.IP.String(), Host: e.Host})
	}
	return w
}

// settle ends a trial (or checks a step between trials): every agent must run (a killed one was started
// again), be synced in its mode with its sessions up, and then, within
// settleTimeout, every kernel and every local API must be exact.
func (r *killRun) settle(trial string) time.Duration {
	r.t.Helper()
	start := time.Now()
	for _, h := range r.l.Hosts {
		sctx, cancel := context.WithTimeout(r.ctx, repeerTimeout)
		err := h.WaitSynced(sctx, r.modes[h])
		cancel()
		if err != nil {
			r.t.Fatalf("%s: %v (seed %d)", trial, err, r.seed)
		}
	}
	synced := time.Since(start)
	w := r.want()
	var last []string
	ctx, cancel := context.WithTimeout(r.ctx, settleTimeout)
	defer cancel()
	err := lab.Eventually(ctx, "every kernel exact", 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		var problems []string
		for _, h := range r.l.Hosts {
			missing, extra, err := r.l.KernelDiff(ctx, h, w)
			if err != nil {
				return false, err
			}
			problems = append(problems, describe(h.Name+" kernel", missing, extra)...)
			missing, extra, err = endpointDiff(ctx, h, w)
			if err != nil {
				return false, err
			}
			problems = append(problems, describe(h.Name+" local API endpoints", missing, extra)...)
		}
		last = problems
		return len(problems) == 0, fmt.Errorf("%d differences", len(problems))
	})
	if err != nil {
		r.t.Fatalf("%s: not exact %v after every agent was synced (synced after %v): %v\n%s\nreplay the random choices with VXBGP_SIGKILL_SEED=%d",
			trial, settleTimeout, synced.Round(time.Millisecond), err, strings.Join(last, "\n"), r.seed)
	}
	took := time.Since(start)
	r.t.Logf("%s: exact on every host %v after the trial's last step (synced %v)", trial, took.Round(time.Millisecond), synced.Round(time.Millisecond))
	return took
}

// endTrial settles a trial and counts it.
func (r *killRun) endTrial(trial string) {
	r.t.Helper()
	r.exact = append(r.exact, r.settle(trial))
	r.trials++
}

// checkOracle makes sure the comparison can fail, against the real
// kernel of the settled lab: an endpoint that is not there shows as its
// three entries missing on each other host, a live pod left out of the
// expectation as its three entries extra.
func (r *killRun) checkOracle() {
	r.t.Helper()
	h1, h2 := r.l.Host(1), r.l.Host(2)
	w := r.want()
	ghost := lab.Located{Name: "ghost", ContainerID: "ghost", MAC: "02:5c:ff:00:00:01", IP: "10.244.200.1", Host: h1}
	w.Endpoints = append(w.Endpoints, ghost)
	missing, extra, err := r.l.KernelDiff(r.ctx, h2, w)
	must(r.t, err)
	if len(missing) != 3 || len(extra) != 0 {
		r.t.Fatalf("oracle check: an endpoint that does not exist gave %d missing, %d extra lines on h2, want 3 and 0: %v %v", len(missing), len(extra), missing, extra)
	}
	w = r.want()
	w.Endpoints = slices.DeleteFunc(w.Endpoints, func(e lab.Located) bool { return e.Host == h1 })
	missing, extra, err = r.l.KernelDiff(r.ctx, h2, w)
	must(r.t, err)
	if len(missing) != 0 || len(extra) != 3 {
		r.t.Fatalf("oracle check: h1's pod left out gave %d missing, %d extra lines on h2, want 0 and 3: %v %v", len(missing), len(extra), missing, extra)
	}
	got, err := lab.AgentKernel(r.ctx, h2.NS)
	must(r.t, err)
	r.t.Logf("oracle check passed; h2's kernel as compared:\n%s", strings.Join(got, "\n"))
}

// describe turns a diff into lines, at most 10 of each kind.
func describe(what string, missing, extra []string) []string {
	var out []string
	for _, d := range []struct {
		kind  string
		lines []string
	}{{"missing", missing}, {"extra", extra}} {
		for i, s := range d.lines {
			if i == 10 {
				out = append(out, fmt.Sprintf("%s: ... and %d more %s", what, len(d.lines)-10, d.kind))
				break
			}
			out = append(out, fmt.Sprintf("%s: %s %s", what, d.kind, s))
		}
	}
	return out
}

// endpointDiff compares h's local API endpoints with w's endpoints on h,
// as "endpoint CONTAINERID MAC IP" lines.
func endpointDiff(ctx context.Context, h *lab.Host, w lab.Want) (missing, extra []string, err error) {
	eps, err := h.Endpoints(ctx)
	if err != nil {
		return nil, nil, err
	}
	var got, want []string
	for _, e := range eps {
		got = append(got, fmt.Sprintf("endpoint %s %s %s", e.ContainerID, strings.ToLower(e.MAC), strings.Join(e.IPs, ",")))
	}
	for _, e := range w.Endpoints {
		if e.Host == h {
			want = append(want, fmt.Sprintf("endpoint %s %s %s", e.ContainerID, e.MAC, e.IP))
		}
	}
	missing, extra = lab.DiffLines(want, got)
	return missing, extra, nil
}

// milestone says how far an agent's run got, from its log: the last of
// its start-up steps it logged, and how many reconcile passes changed the
// kernel.
func milestone(log string) string {
	reached := "nothing logged"
	for _, m := range []struct{ line, name string }{
		{"level=", "logging"},
		{"vxbgpd running", "parts running"},
		{"our routes are in the speaker", "peering"},
		{"initial BGP table complete", "synced"},
	} {
		if strings.Contains(log, m.line) {
			reached = m.name
		}
	}
	return fmt.Sprintf("%s, %d reconcile passes", reached, strings.Count(log, `msg=reconciled`))
}

// otherThan returns a random host other than h.
func (r *killRun) otherThan(h *lab.Host) *lab.Host {
	others := slices.DeleteFunc(slices.Clone(r.l.Hosts), func(o *lab.Host) bool { return o == h })
	return others[r.rng.IntN(len(others))]
}
