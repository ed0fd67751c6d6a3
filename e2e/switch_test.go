package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// switchInterval is the continuous pings' interval; the loss budget is per
// ordered pair over the whole switch.
const (
	switchInterval = 100 * time.Millisecond
	switchBudget   = time.Second
)

// TestModeSwitch: a 3-host overlay lab with 2 pods per host and a
// continuous ping (100 ms) for every one of the 30 ordered pod pairs. The
// hosts are restarted one at a time with --mode routed (each synced and
// peered, and every host's kernel showing the mix of modes, before the
// next), then one at a time with --mode overlay. No pod is recreated;
// every pair loses at most 1 s of pings (lost × 100 ms) over the whole
// switch. All routed: no vxlan device, FDB or neighbour entry of ours on
// any host. All overlay again: no agent route for another host's block, and
// every FDB entry is back.
//
// One pinger (lab.StartLossPing) per ordered pair (30): each sends 10 small packets a
// second, so together they cost far less than the agents on 2 cores.
func TestModeSwitch(t *testing.T) {
	ctx := testCtx(t, 10*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3})
	pods := addPods(t, ctx, l, 2)
	converge(t, ctx, l)
	if m := lab.PingMatrix(ctx, lab.PodEndpoints(pods)); len(m.Failed()) > 0 {
		t.Fatalf("overlay lab does not ping before the switch:\n%s", m)
	}
	before := map[string]podIdentity{}
	for _, p := range pods {
		id, err := identify(ctx, p)
		must(t, err)
		before[p.Name] = id
	}

	// Start the pingers.
	type pair struct {
		from, to *lab.Pod
		ping     *lab.LossPing
		stats    lab.LossStats
		stopped  bool
	}
	var pairs []*pair
	for _, a := range pods {
		for _, b := range pods {
			if a == b {
				continue
			}
			p, err := lab.StartLossPing(ctx, a.NS, b.IP.String(), switchInterval, 9*time.Minute)
			must(t, err)
			pairs = append(pairs, &pair{from: a, to: b, ping: p})
		}
	}
	defer func() { // a failing test still stops them before the lab goes
		for _, p := range pairs {
			if !p.stopped {
				_, _ = p.ping.Stop()
			}
		}
	}()
	for _, p := range pairs {
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := p.ping.WaitReplies(wctx, 5)
		cancel()
		if err != nil {
			t.Fatalf("ping %s -> %s before the switch: %v", p.from.Name, p.to.Name, err)
		}
	}
	// flowing waits until every pinger has 5 more replies than now, so no
	// step starts while an earlier one still loses packets.
	flowing := func(what string) {
		t.Helper()
		base := make([]int, len(pairs))
		for i, p := range pairs {
			base[i] = p.ping.Replies()
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		for i, p := range pairs {
			if err := p.ping.WaitReplies(wctx, base[i]+5); err != nil {
				t.Errorf("after %s: ping %s -> %s stalled: %v", what, p.from.Name, p.to.Name, err)
			}
		}
	}

	modes := map[string]string{}
	for _, h := range l.Hosts {
		modes[h.Name] = modeOverlay
	}
	type mark struct {
		name string
		at   time.Time
	}
	marks := []mark{{"overlay, before the switch", time.Now()}}
	switchHost := func(h *lab.Host, mode string) {
		t.Helper()
		name := fmt.Sprintf("step %d: %s -> %s", len(marks), h.Name, mode)
		start := time.Now()
		marks = append(marks, mark{name, start})
		if err := h.RestartWith(ctx, "--mode", mode); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ready := time.Since(start)
		sctx, cancel := context.WithTimeout(ctx, repeerTimeout)
		err := h.WaitSynced(sctx, mode)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		synced := time.Since(start)
		modes[h.Name] = mode
		settled := "never"
		if err := waitSwitchState(ctx, l, modes, 60*time.Second); err != nil {
			t.Errorf("%s: kernel state did not settle: %v", name, err)
		} else {
			settled = time.Since(start).Round(time.Millisecond).String()
		}
		vx := ""
		if mode == modeRouted {
			// The agent removes its vxlan device after the initial BGP sync.
			vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := lab.Eventually(vctx, h.Name+" vxlan device to go", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
				devs, err := lab.VXLANDevices(ctx, h.NS)
				return err == nil && len(devs) == 0, fmt.Errorf("have %v (%v)", devs, err)
			})
			cancel()
			if err != nil {
				t.Errorf("%s: %v", name, err)
				vx = ", vxlan device still there"
			} else {
				vx = fmt.Sprintf(", vxlan device gone %v", time.Since(start).Round(time.Millisecond))
			}
		}
		flowing(name)
		t.Logf("TIMING: %s: agent ready %v, synced and peered %v, every host's kernel settled %s%s (all after the restart began)",
			name, ready.Round(time.Millisecond), synced.Round(time.Millisecond), settled, vx)
	}

	for _, h := range l.Hosts {
		switchHost(h, modeRouted)
	}
	t.Run("all routed: nothing of overlay left", func(t *testing.T) {
		for _, h := range l.Hosts {
			st, err := h.Status(ctx)
			if err != nil || st.Mode != modeRouted {
				t.Errorf("%s: status mode %q (%v), want routed", h.Name, st.Mode, err)
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err = lab.Eventually(wctx, h.Name+" without overlay state", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
				left, err := lab.OverlayLeftovers(ctx, h.NS)
				return err == nil && len(left) == 0, fmt.Errorf("left: %v (%v)", left, err)
			})
			cancel()
			if err != nil {
				t.Errorf("%s after the switch to routed: %v", h.Name, err)
			}
			if missing, err := l.MissingBlockRoutes(ctx, h); err != nil || len(missing) > 0 {
				t.Errorf("%s: block routes missing in routed mode: %v %v", h.Name, missing, err)
			}
		}
	})

	for _, h := range l.Hosts {
		switchHost(h, modeOverlay)
	}
	t.Run("all overlay: block routes gone, FDB back", func(t *testing.T) {
		waitConverged(t, ctx, l)
		for _, h := range l.Hosts {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := lab.Eventually(wctx, h.Name+" without block routes", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
				routes, err := lab.AgentRoutes(ctx, h.NS)
				if err != nil {
					return false, err
				}
				var stale []string
				for _, r := range routes {
					if _, isBlock := l.RemoteBlocks(h)[r.Dst]; isBlock {
						stale = append(stale, r.String())
					}
				}
				return len(stale) == 0, fmt.Errorf("agent routes to overlay peers' blocks: %v", stale)
			})
			cancel()
			if err != nil {
				t.Errorf("%s after the switch back to overlay: %v", h.Name, err)
			}
			if devs, err := lab.VXLANDevices(ctx, h.NS); err != nil || !slices.Contains(devs, lab.VXLANDev) {
				t.Errorf("%s: vxlan devices %v after the switch back (err %v)", h.Name, devs, err)
			}
		}
	})
	marks = append(marks, mark{"overlay, after the switch", time.Now()})
	flowing("the switch back")

	// Stop the pings and account for every lost request.
	var worst *pair
	total, lossy := 0, 0
	perPhase := map[string]int{}
	for _, p := range pairs {
		st, err := p.ping.Stop()
		p.stopped = true
		if err != nil {
			t.Errorf("ping %s -> %s: %v", p.from.Name, p.to.Name, err)
			continue
		}
		p.stats = st
		total += st.Lost()
		if st.Lost() > 0 {
			lossy++
		}
		if worst == nil || st.Lost() > worst.stats.Lost() {
			worst = p
		}
		var where []string
		for _, w := range st.Windows {
			ph := marks[0].name
			for _, m := range marks {
				if !w.At.Before(m.at) {
					ph = m.name
				}
			}
			perPhase[ph] += w.Lost()
			where = append(where, fmt.Sprintf("seq %d-%d (%d) at %s during %q", w.FromSeq, w.ToSeq, w.Lost(), w.At.Format("15:04:05.0"), ph))
		}
		lost := st.LostTime(switchInterval)
		msg := fmt.Sprintf("%s -> %s: %d sent, %d received, lost %v", p.from.Name, p.to.Name, st.Transmitted, st.Received, lost)
		if len(where) > 0 {
			msg += ": " + strings.Join(where, "; ")
		}
		if lost > switchBudget {
			t.Errorf("%s: more than %v lost", msg, switchBudget)
		} else {
			t.Log(msg)
		}
	}
	var phases []string
	for _, m := range marks {
		if n := perPhase[m.name]; n > 0 {
			phases = append(phases, fmt.Sprintf("%q %d", m.name, n))
		}
	}
	if worst != nil {
		t.Logf("TIMING: mode switch overlay->routed->overlay, %d pairs at %v: worst pair %s -> %s lost %d pings = %v (%d sent); %d pairs lost any; %d lost in all; lost per step: %v",
			len(pairs), switchInterval, worst.from.Name, worst.to.Name, worst.stats.Lost(), worst.stats.LostTime(switchInterval),
			worst.stats.Transmitted, lossy, total, phases)
	}

	// No pod was recreated: same namespace, address and MAC.
	for _, p := range pods {
		id, err := identify(ctx, p)
		if err != nil {
			t.Errorf("pod %s after the switch: %v", p.Name, err)
			continue
		}
		if id != before[p.Name] {
			t.Errorf("pod %s changed across the switch: before %+v, after %+v", p.Name, before[p.Name], id)
		}
	}
	if got := len(l.Pods()); got != len(pods) {
		t.Errorf("%d pods after the switch, want %d", got, len(pods))
	}
}

// waitSwitchState waits until every host's kernel matches the hosts'
// modes: between two overlay hosts, FDB entries for the other's pods and no
// agent route for its block; between hosts of which at least one is routed,
// an agent route to the other's block via its underlay address.
func waitSwitchState(ctx context.Context, l *lab.Lab, modes map[string]string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return lab.Eventually(ctx, fmt.Sprintf("kernel state for modes %v", modes), 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		var problems []string
		for _, x := range l.Hosts {
			routes, err := lab.AgentRoutes(ctx, x.NS)
			if err != nil {
				return false, err
			}
			var fdb []lab.FDBEntry
			if modes[x.Name] == modeOverlay {
				if fdb, err = lab.ReadFDB(ctx, x.NS, lab.VXLANDev); err != nil {
					problems = append(problems, x.Name+": "+err.Error())
				}
			}
			for _, y := range l.Hosts {
				if y == x {
					continue
				}
				r, has := lab.FindRoute(routes, y.Block())
				if modes[x.Name] == modeOverlay && modes[y.Name] == modeOverlay {
					for _, p := range l.Pods() {
						if _, ok := lab.RemoteEntry(fdb, p.MAC, y.Addr); p.Host == y && !ok {
							problems = append(problems, fmt.Sprintf("%s: no fdb for %s dst %s", x.Name, p.Name, y.Addr))
						}
					}
					if has {
						problems = append(problems, fmt.Sprintf("%s: still routes overlay peer %s's block: %s", x.Name, y.Name, r))
					}
				} else if !has || !slices.Equal(r.Gateways(), []string{y.Addr}) {
					problems = append(problems, fmt.Sprintf("%s: no route %s via %s (have %v)", x.Name, y.Block(), y.Addr, r))
				}
			}
		}
		return len(problems) == 0, fmt.Errorf("%v", problems)
	})
}

// podIdentity is what must not change while the hosts switch modes: the
// pod's network namespace (its inode) and eth0's address and MAC.
type podIdentity struct {
	Inode uint64
	Addr  string
	MAC   string
}

func identify(ctx context.Context, p *lab.Pod) (podIdentity, error) {
	var id podIdentity
	fi, err := os.Stat("/run/netns/" + p.NS)
	if err != nil {
		return id, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Inode = st.Ino
	}
	out, err := lab.IP(ctx, p.NS, "-j", "addr", "show", "dev", p.IfName)
	if err != nil {
		return id, err
	}
	var links []struct {
		Address  string `json:"address"`
		AddrInfo []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return id, fmt.Errorf("decode %s of %s: %v %q", p.IfName, p.Name, err, out)
	}
	id.MAC = links[0].Address
	for _, a := range links[0].AddrInfo {
		if a.Family == "inet" {
			id.Addr = fmt.Sprintf("%s/%d", a.Local, a.PrefixLen)
		}
	}
	if id.Addr != p.Prefix.String() || id.MAC != p.MAC {
		return id, fmt.Errorf("pod %s has %s %s, CNI gave %s %s", p.Name, id.Addr, id.MAC, p.Prefix, p.MAC)
	}
	return id, nil
}
