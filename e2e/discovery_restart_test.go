package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// restartDown is how long the agent stays down in TestDiscoveryAgentRestart:
// longer than gossip takes to declare it dead (about 1.5-2.5 s), so the
// others do decide whether to mask it.
const restartDown = 4 * time.Second

// TestDiscoveryAgentRestart: h2's agent is killed (SIGKILL) and started
// again 4 s later, its host alive all along. Gossip declares it dead in
// between; the others probe its host, which answers (nothing listens on
// the BGP port: refused), and do not mask it: `vxbgpctl members` on h1 and
// h3 never shows it masked, and continuous pings (100 ms) between h2's pod
// and the others' pods, both ways, lose nothing.
func TestDiscoveryAgentRestart(t *testing.T) {
	ctx := testCtx(t, 5*time.Minute)
	l, pods := newFleet(t, ctx, lab.Options{Hosts: 3})
	victim := l.Host(2)
	vp := podOn(t, pods, victim)
	type pinger struct {
		from, to *lab.Pod
		ping     *lab.LossPing
	}
	var pingers []*pinger
	for _, p := range pods {
		if p == vp {
			continue
		}
		for _, pair := range [][2]*lab.Pod{{vp, p}, {p, vp}} {
			lp, err := lab.StartLossPing(ctx, pair[0].NS, pair[1].IP.String(), 100*time.Millisecond, 4*time.Minute)
			must(t, err)
			defer lp.Stop() // a failing test still stops it before the lab goes
			pingers = append(pingers, &pinger{pair[0], pair[1], lp})
		}
	}
	flowing := func(what string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		for _, p := range pingers {
			if err := p.ping.WaitReplies(wctx, p.ping.Replies()+5); err != nil {
				t.Errorf("%s: ping %s -> %s stalled: %v", what, p.from.Name, p.to.Name, err)
			}
		}
	}
	flowing("before the restart")

	watch := watchMembers(ctx, l, victim)
	killAt := time.Now()
	must(t, victim.Kill(ctx))
	time.Sleep(time.Until(killAt.Add(restartDown)))
	startAt := time.Now()
	must(t, victim.Start(ctx))
	repeer(t, ctx, victim)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err := l.WaitMembers(wctx, l.Hosts...)
	cancel()
	must(t, err)
	t.Logf("TIMING: %s killed, started %v later, ready, peered and alive for every host %v after its start",
		victim.Name, startAt.Sub(killAt).Round(time.Millisecond), time.Since(startAt).Round(time.Millisecond))
	waitConverged(t, ctx, l)
	flowing("after the restart")
	seen := watch.stop()

	for _, o := range l.Hosts {
		if o == victim {
			continue
		}
		s := seen[o.Name]
		t.Logf("%s's view of %s across the restart: %s", o.Name, victim.Name, s)
		if s.masked {
			t.Errorf("%s masked %s, whose host was alive (only its agent restarted)", o.Name, victim.Name)
		}
		if !s.dead {
			t.Errorf("%s never saw %s dead: the restart did not exercise the mask decision", o.Name, victim.Name)
		}
		if s.errs > 0 {
			t.Errorf("%s: %d of %d member reads failed", o.Name, s.errs, s.polls)
		}
	}
	for _, p := range pingers {
		sent, lost, where := stopLossPing(t, p.ping, killAt, "kill")
		t.Logf("TIMING: continuous ping %s -> %s (100 ms) across %s's agent kill and restart: %d sent, %d lost",
			p.from.Name, p.to.Name, victim.Name, sent, lost)
		if lost > 0 {
			t.Errorf("ping %s -> %s lost %d requests: %v", p.from.Name, p.to.Name, lost, where)
		}
	}
}

// memberView is what one host's `vxbgpctl members` said of another over a
// stretch of time.
type memberView struct {
	polls, errs  int
	dead, masked bool
	states       []string // each change, "alive", "dead", ...
}

func (v memberView) String() string {
	return fmt.Sprintf("states %v, masked ever %v (%d reads)", v.states, v.masked, v.polls)
}

// memberWatch polls every other host's members every 100 ms for what they
// say of one host.
type memberWatch struct {
	cancel func()
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   map[string]memberView
}

func watchMembers(ctx context.Context, l *lab.Lab, of *lab.Host) *memberWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &memberWatch{cancel: cancel, seen: map[string]memberView{}}
	for _, h := range l.Hosts {
		if h == of {
			continue
		}
		w.wg.Go(func() {
			for ctx.Err() == nil {
				ms, err := h.Members(ctx)
				w.mu.Lock()
				v := w.seen[h.Name]
				v.polls++
				if err != nil && ctx.Err() == nil {
					v.errs++
				}
				for _, m := range ms {
					if m.NodeName != of.Name {
						continue
					}
					if n := len(v.states); n == 0 || v.states[n-1] != m.State {
						v.states = append(v.states, m.State)
					}
					v.dead = v.dead || m.State == "dead"
					v.masked = v.masked || m.Masked
				}
				w.seen[h.Name] = v
				w.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	return w
}

// stop ends the polling and returns each host's view.
func (w *memberWatch) stop() map[string]memberView {
	w.cancel()
	w.wg.Wait()
	return w.seen
}
