package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// The random windows: kills land within them.
const (
	startupWindow  = 300 * time.Millisecond // after spawn
	receiverWindow = 600 * time.Millisecond // after h1 starts replacing its endpoints
	restartWindow  = 800 * time.Millisecond // after h2's spawn, its endpoints replaced while it was down
	announceWindow = 500 * time.Millisecond // after h1 starts replacing its endpoints
	burstFor       = 2 * time.Second        // a CNI burst; the kill lands within it
	switchWindow   = 400 * time.Millisecond // after the spawn in the other mode
	bulkSize       = 1000
)

// startup: h's agent crashes; while it is down a pod of h and a pod of
// another host are replaced by new ones; then h's agent is spawned and
// killed 0-300 ms later, once or twice, and finally started.
func (r *killRun) startup(trials int) {
	for i := range trials {
		h := r.l.Hosts[i%len(r.l.Hosts)]
		r.crash(h)
		r.replacePod(h)
		r.replacePod(r.otherThan(h))
		var at []string
		for range 1 + r.rng.IntN(2) {
			d := r.delay(startupWindow)
			must(r.t, h.Spawn())
			r.sleep(d)
			r.kill(phaseStartup, h)
			at = append(at, fmt.Sprintf("%v after spawn (%s)", d.Round(time.Millisecond), milestone(h.LastRunLog())))
		}
		must(r.t, h.Start(r.ctx))
		r.endTrial(fmt.Sprintf("start-up trial %d: %s killed %s", i+1, h.Name, strings.Join(at, ", then ")))
	}
}

// replacePod deletes h's oldest pod, if any, and adds a new one, through
// the plugin.
func (r *killRun) replacePod(h *lab.Host) {
	for _, p := range r.l.Pods() {
		if p.Host == h {
			must(r.t, r.l.DelPod(r.ctx, p))
			break
		}
	}
	_, err := r.l.Pod(r.ctx, h, r.podName())
	must(r.t, err)
}

var podSeq atomic.Int64

func (r *killRun) podName() string { return fmt.Sprintf("k%d", podSeq.Add(1)) }

// Where a mid-reconcile kill landed, judged from h2's kernel right after
// it (h2 killed) or from h1's store (h1 killed).
const (
	landedBefore = "before h2 programmed any of it"
	landedMid    = "mid-reconcile on h2"
	landedAfter  = "after h2 had converged"
	landedRecord = "h1 killed mid-announce"
	landedLate   = "h1 killed after announcing"
)

// midReconcile: h1 replaces its 1,000 stored endpoints with 1,000 others
// in every trial; trials take turns killing h2 while it programs them
// (receiver), killing h2 after spawning it into that work (restart), and
// killing h1 while it announces them (announcer).
func (r *killRun) midReconcile(trials int) {
	h1, h2 := r.l.Host(1), r.l.Host(2)
	c := localapi.NewClient(h1.Socket)
	r.landed = map[string]int{}
	// The first batch, not killed, measures how long h2 takes to program
	// it: kills of h2 while it programs land within that much (at least
	// 100 ms) of the start of a replacement, which is twice the work.
	start := time.Now()
	first := r.newBatch()
	must(r.t, r.replaceBulk(c, first))
	must(r.t, lab.Eventually(r.ctx, "h2 to program h1's endpoints", 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		n, err := r.programmed(h2, first)
		return err == nil && n == len(first), fmt.Errorf("%d of %d (%v)", n, len(first), err)
	}))
	receiverWindow := max(time.Since(start), 100*time.Millisecond)
	r.t.Logf("h2 programmed %d endpoints of h1 %v after h1 began announcing them: h2 is killed within that much of a replacement's start",
		bulkSize, receiverWindow.Round(time.Millisecond))
	r.settle(fmt.Sprintf("%d endpoints stored on h1", bulkSize))
	for i := range trials {
		old, next := r.bulk, r.newBatch()
		var where, how string
		switch i % 3 {
		case 0:
			d := r.delay(receiverWindow)
			done := r.goReplace(c, next)
			r.sleep(d)
			r.kill(phaseReconcile, h2)
			where = r.landedOn(h2, old, next)
			must(r.t, <-done)
			must(r.t, h2.Start(r.ctx))
			how = fmt.Sprintf("h2 killed %v after h1 began replacing its endpoints", d.Round(time.Millisecond))
		case 1:
			r.crash(h2)
			must(r.t, r.replaceBulk(c, next))
			d := r.delay(restartWindow)
			must(r.t, h2.Spawn())
			r.sleep(d)
			r.kill(phaseReconcile, h2)
			where = r.landedOn(h2, old, next)
			how = fmt.Sprintf("h2 killed %v after its spawn (%s), h1's endpoints replaced while it was down", d.Round(time.Millisecond), milestone(h2.LastRunLog()))
			must(r.t, h2.Start(r.ctx))
		default:
			d := r.delay(announceWindow)
			done := r.goReplace(c, next)
			r.sleep(d)
			r.kill(phaseReconcile, h1)
			stored := storedOf(next)
			where = landedLate
			if stored < len(next) {
				where = landedRecord
			}
			onH2 := r.landedOn(h2, old, next)
			must(r.t, <-done)
			must(r.t, h1.Start(r.ctx))
			how = fmt.Sprintf("h1 killed %v after it began replacing its endpoints, %d of %d new ones stored; h2 then: %s", d.Round(time.Millisecond), stored, len(next), onH2)
		}
		r.landed[where]++
		r.endTrial(fmt.Sprintf("mid-reconcile trial %d: %s: %s", i+1, how, where))
	}
	must(r.t, r.replaceBulk(c, nil))
	r.settle("stored endpoints removed from h1")
}

// newBatch returns the next 1,000 endpoints for h1: batch k's MACs are
// 02:5c:<k>:00:..., its addresses alternate between 10.244.128-131.x and
// 10.244.136-139.x (outside every host's block), so two batches that
// overlap in time never share an address.
func (r *killRun) newBatch() []lab.StoredEndpoint {
	k := r.batch
	r.batch++
	base := 128 + (k%2)*8
	out := make([]lab.StoredEndpoint, bulkSize)
	for i := range out {
		out[i] = lab.StoredEndpoint{
			ContainerID: fmt.Sprintf("sigkill%03d%05d", k, i),
			MAC:         fmt.Sprintf("02:5c:%02x:00:%02x:%02x", k&0xff, i>>8, i&0xff),
			IP:          netip.AddrFrom4([4]byte{10, 244, byte(base + i/250), byte(1 + i%250)}),
			Host:        r.l.Host(1),
		}
	}
	return out
}

// goReplace runs replaceBulk in the background; the channel has its
// result.
func (r *killRun) goReplace(c *localapi.Client, next []lab.StoredEndpoint) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.replaceBulk(c, next) }()
	return done
}

// replaceBulk withdraws h1's stored endpoints and announces next instead,
// 8 at a time, one withdrawal and one announcement each (pods replaced by
// others), as the plugin would: the store first, then the local API. The
// API's errors are tolerated (the agent may be the one killed; it reads the
// store when it starts), the store's are not. r.bulk becomes next.
func (r *killRun) replaceBulk(c *localapi.Client, next []lab.StoredEndpoint) error {
	old := r.bulk
	r.bulk = next
	n := max(len(old), len(next))
	var at atomic.Int64
	var apiErrs atomic.Int64
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(at.Add(1)) - 1
				if i >= n {
					return
				}
				if i < len(old) {
					apiErr, err := old[i].Withdraw(r.ctx, c)
					if err != nil {
						errs <- err
						return
					}
					if apiErr != nil {
						apiErrs.Add(1)
					}
				}
				if i < len(next) {
					apiErr, err := next[i].Announce(r.ctx, c)
					if err != nil {
						errs <- err
						return
					}
					if apiErr != nil {
						apiErrs.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	if e := apiErrs.Load(); e > 0 {
		r.t.Logf("replacing h1's endpoints: %d local-API calls failed (agent killed or down)", e)
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// storedOf counts the endpoints of batch whose store record exists.
func storedOf(batch []lab.StoredEndpoint) int {
	n := 0
	for _, e := range batch {
		if e.Stored() {
			n++
		}
	}
	return n
}

// landedOn judges, from h's kernel (its agent just killed), where the
// kill landed in the work of replacing old with next, and logs it.
func (r *killRun) landedOn(h *lab.Host, old, next []lab.StoredEndpoint) string {
	o, err := r.programmed(h, old)
	must(r.t, err)
	x, err := r.programmed(h, next)
	must(r.t, err)
	where := landedMid
	switch {
	case x == 0 && o == len(old):
		where = landedBefore
	case x == len(next) && o == 0:
		where = landedAfter
	}
	r.t.Logf("at the kill %s held %d of %d new and %d of %d old endpoints' entries: %s", h.Name, x, len(next), o, len(old), where)
	return where
}

// programmed counts the endpoints of batch whose vxlan entry h holds.
func (r *killRun) programmed(h *lab.Host, batch []lab.StoredEndpoint) (int, error) {
	fdb, err := lab.ReadFDB(r.ctx, h.NS, lab.VXLANDev)
	if err != nil {
		return 0, err
	}
	self := map[string]bool{} // "MAC dst", as lab.RemoteEntry finds them
	for _, e := range fdb {
		if e.Has("self") && e.Dst != "" {
			self[strings.ToLower(e.MAC)+" "+e.Dst] = true
		}
	}
	n := 0
	for _, e := range batch {
		if self[e.MAC+" "+e.Host.Addr] {
			n++
		}
	}
	return n, nil
}

// cniBurst: for burstFor, two workers add and delete pods on one host
// through the plugin (between 1 and 6 pods there); meanwhile that host's
// agent or another's is killed at a random instant and started again at
// once, while the burst goes on.
func (r *killRun) cniBurst(trials int) {
	for i := range trials {
		bh := r.l.Hosts[r.rng.IntN(len(r.l.Hosts))]
		kh := bh
		if r.rng.IntN(2) == 0 {
			kh = r.otherThan(bh)
		}
		var mu sync.Mutex
		var pool []*lab.Pod
		for _, p := range r.l.Pods() {
			if p.Host == bh {
				pool = append(pool, p)
			}
		}
		var adds, dels atomic.Int64
		errs := make(chan error, 2)
		var wg sync.WaitGroup
		end := time.Now().Add(burstFor)
		for range 2 {
			rng := rand.New(rand.NewPCG(r.rng.Uint64(), 0))
			wg.Go(func() {
				for time.Now().Before(end) {
					mu.Lock()
					var p *lab.Pod
					if n := len(pool); n >= 6 || (n > 1 && rng.IntN(2) == 0) {
						j := rng.IntN(n)
						p, pool = pool[j], append(pool[:j:j], pool[j+1:]...)
					}
					mu.Unlock()
					if p != nil {
						if err := r.l.DelPod(r.ctx, p); err != nil {
							errs <- err
							return
						}
						dels.Add(1)
						continue
					}
					p, err := r.l.Pod(r.ctx, bh, r.podName())
					if err != nil {
						errs <- err
						return
					}
					adds.Add(1)
					mu.Lock()
					pool = append(pool, p)
					mu.Unlock()
				}
			})
		}
		d := r.delay(burstFor)
		r.sleep(d)
		r.kill(phaseBurst, kh)
		addsAt, delsAt := adds.Load(), dels.Load()
		err := kh.Start(r.ctx)
		wg.Wait()
		must(r.t, err)
		select {
		case err := <-errs:
			r.t.Fatalf("CNI burst on %s: %v", bh.Name, err)
		default:
		}
		r.endTrial(fmt.Sprintf("CNI burst trial %d: pods added/deleted on %s (%d ADD, %d DEL; %d/%d before the kill), %s killed %v into it",
			i+1, bh.Name, adds.Load(), dels.Load(), addsAt, delsAt, kh.Name, d.Round(time.Millisecond)))
	}
}

// modeSwitch: a host is stopped and spawned with the other --mode, killed
// 0-400 ms later, and started in the new mode (two times in three) or back
// in the old one. Hosts take turns, so the lab goes through mixed modes.
func (r *killRun) modeSwitch(trials int) {
	for i := range trials {
		h := r.l.Hosts[i%len(r.l.Hosts)]
		from, to := r.modes[h], modeRouted
		if from == modeRouted {
			to = modeOverlay
		}
		must(r.t, h.Stop(r.ctx))
		must(r.t, h.SpawnWith("--mode", to))
		d := r.delay(switchWindow)
		r.sleep(d)
		reached := milestone(h.LastRunLog())
		r.kill(phaseSwitch, h)
		final := to
		if r.rng.IntN(3) == 0 {
			final = from
		}
		must(r.t, h.SpawnWith("--mode", final))
		must(r.t, h.WaitReady(r.ctx))
		r.modes[h] = final
		r.endTrial(fmt.Sprintf("mode switch trial %d: %s %s -> %s killed %v after its spawn (%s), started in %s",
			i+1, h.Name, from, to, d.Round(time.Millisecond), reached, final))
	}
}
