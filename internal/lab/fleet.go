package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// PowerOff takes h off the net as a power cut would: its port on the
// underlay bridge goes down, then vxbgpd is killed (SIGKILL). In that
// order nothing h sends gets out, not even the FINs the kernel sends for
// the killed agent's BGP sessions: its peers' sessions go silent rather
// than close, and its address answers nothing. Its namespace and pods stay
// (they are cut off too). It returns when the power went: before the link
// went down, the start of every measurement of what follows.
func (h *Host) PowerOff(ctx context.Context) (time.Time, error) {
	at := time.Now()
	if err := h.setPort(ctx, "down"); err != nil {
		return at, err
	}
	if err := h.Kill(ctx); err != nil {
		return at, err
	}
	h.lab.logf("%s: powered off (underlay port down, vxbgpd killed) in %v", h.Name, time.Since(at).Round(time.Millisecond))
	return at, nil
}

// PowerOn undoes PowerOff: the port comes up and vxbgpd starts; it
// returns once the agent answers on its API.
func (h *Host) PowerOn(ctx context.Context) error {
	if err := h.setPort(ctx, "up"); err != nil {
		return err
	}
	return h.Start(ctx)
}

// setPort sets h's port on the underlay bridge (named after h) up or down.
func (h *Host) setPort(ctx context.Context, state string) error {
	if _, err := IP(ctx, h.lab.Underlay, "link", "set", "dev", h.Name, state); err != nil {
		return fmt.Errorf("set underlay port of %s %s: %w", h.Name, state, err)
	}
	return nil
}

// WaitMembers waits until each of hosts lists exactly hosts in `vxbgpctl
// members`, every one alive and unmasked at its own address, and returns
// how long that took.
func (l *Lab) WaitMembers(ctx context.Context, hosts ...*Host) (time.Duration, error) {
	var checks []check
	for _, h := range hosts {
		checks = append(checks, check{h.Name + " to list every member alive and unmasked", func(ctx context.Context) ([]string, error) {
			if err := h.checkAlive(); err != nil {
				return nil, err
			}
			ms, err := h.Members(ctx)
			if err != nil {
				return nil, err
			}
			return memberProblems(ms, hosts), nil
		}})
	}
	return l.waitAll(ctx, fmt.Sprintf("%d hosts list each other", len(hosts)), checks)
}

// memberProblems lists how a member list differs from want, all alive and
// unmasked: "h2 missing", "h3 dead masked", "x9 (10.250.0.9) unexpected".
func memberProblems(ms []localapi.Member, want []*Host) []string {
	byName := map[string]localapi.Member{}
	for _, m := range ms {
		byName[m.NodeName] = m
	}
	var out []string
	for _, h := range want {
		m, ok := byName[h.Name]
		delete(byName, h.Name)
		switch {
		case !ok:
			out = append(out, h.Name+" missing")
		case m.Address != h.Addr:
			out = append(out, fmt.Sprintf("%s at %s, want %s", h.Name, m.Address, h.Addr))
		case m.State != "alive" || m.Masked:
			out = append(out, fmt.Sprintf("%s %s masked=%v", h.Name, m.State, m.Masked))
		}
	}
	for name, m := range byName {
		out = append(out, fmt.Sprintf("%s (%s) unexpected", name, m.Address))
	}
	return out
}

// GoneWatch waits until one host's entries leave another host's kernel:
// in overlay mode every FDB entry towards its VTEP (its pods' MACs and its
// flood entry), in routed mode the route to its block. It subscribes at
// WatchGone, so the stamps are the kernel's notifications, not a poll.
type GoneWatch struct {
	what  string
	wait  func(ctx context.Context) (time.Time, error)
	close func()
}

// WatchGone subscribes in on's namespace to the removal of gone's entries,
// in the lab's mode. The entries must be there now: a watch with nothing
// to wait for is an error.
func (l *Lab) WatchGone(ctx context.Context, on, gone *Host) (*GoneWatch, error) {
	if l.opts.Mode == "routed" {
		return watchRouteGone(ctx, on, gone)
	}
	return watchFDBGone(ctx, on, gone)
}

func watchFDBGone(ctx context.Context, on, gone *Host) (*GoneWatch, error) {
	w, err := WatchFDB(on.NS)
	if err != nil {
		return nil, err
	}
	fdb, err := ReadFDB(ctx, on.NS, VXLANDev)
	if err != nil {
		w.Close()
		return nil, err
	}
	var macs []string
	for _, e := range fdb {
		if e.Dst == gone.Addr {
			macs = append(macs, e.MAC)
		}
	}
	g := &GoneWatch{what: fmt.Sprintf("%s's FDB entries towards %s %v", on.Name, gone.Name, macs), close: w.Close}
	if len(macs) == 0 {
		w.Close()
		return nil, fmt.Errorf("watch %s: none there", g.what)
	}
	g.wait = func(ctx context.Context) (time.Time, error) {
		var last time.Time
		for _, mac := range macs {
			at, err := w.WaitDeleted(ctx, mac, gone.Addr)
			if err != nil {
				return last, err
			}
			if at.After(last) {
				last = at
			}
		}
		return last, nil
	}
	return g, nil
}

func watchRouteGone(ctx context.Context, on, gone *Host) (*GoneWatch, error) {
	w, err := WatchRoutes(on.NS, agentRouteEventOf)
	if err != nil {
		return nil, err
	}
	g := &GoneWatch{what: fmt.Sprintf("%s's route to %s's block %s", on.Name, gone.Name, gone.Block()), close: w.Close}
	routes, err := AgentRoutes(ctx, on.NS)
	if err != nil {
		w.Close()
		return nil, err
	}
	if _, ok := FindRoute(routes, gone.Block()); !ok {
		w.Close()
		return nil, fmt.Errorf("watch %s: not there", g.what)
	}
	g.wait = func(ctx context.Context) (time.Time, error) { return w.Wait(ctx, routeEvent{"del", gone.Block()}) }
	return g, nil
}

// Wait waits until the entries are gone and returns when the last one
// left.
func (g *GoneWatch) Wait(ctx context.Context) (time.Time, error) {
	at, err := g.wait(ctx)
	if err != nil {
		return at, fmt.Errorf("wait for %s to go: %w", g.what, err)
	}
	return at, nil
}

// Close ends the subscription.
func (g *GoneWatch) Close() { g.close() }
