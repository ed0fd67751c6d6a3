package bgptest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// Events is what a watch reported, in order: "eor <family> <peer>" for an
// End-of-RIB, "peer <addr> up|down" for a session and, in a Recorder,
// "add <destination> <peer>" and "del <destination> <peer>" for best paths,
// in a RIB "route <prefix> <number of paths>" (0: withdrawn).
type Events struct {
	mu     sync.Mutex // also guards what Recorder and RIB hold
	events []string
}

func (e *Events) onEOR(family, peer string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, fmt.Sprintf("eor %s %s", family, peer))
}

func (e *Events) onPeer(peer string, up bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := "down"
	if up {
		st = "up"
	}
	e.events = append(e.events, fmt.Sprintf("peer %s %s", peer, st))
}

// Has reports whether event was reported.
func (e *Events) Has(event string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.events, event)
}

// Count is the number of events that start with prefix.
func (e *Events) Count(prefix string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.events {
		if strings.HasPrefix(ev, prefix) {
			n++
		}
	}
	return n
}

// Since returns the events after the first n (n from Count("")).
func (e *Events) Since(n int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events[min(n, len(e.events)):])
}

// Dump renders the events, one a line, for failure messages.
func (e *Events) Dump() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.events, "\n")
}

// Recorder collects what bgp.Speaker.Watch delivers: the events and the
// current best path per destination (GoBGP's NLRI text).
type Recorder struct {
	Events
	best map[string]*api.Path
}

// Watch runs s.Watch into a new Recorder until the test ends.
func Watch(t testing.TB, s *bgp.Speaker) *Recorder {
	t.Helper()
	r := &Recorder{best: map[string]*api.Path{}}
	Background(t, "watch", func(ctx context.Context) error {
		return closedOK(s.Watch(ctx, bgp.Handler{Path: r.onPath, EOR: r.onEOR, Peer: r.onPeer}))
	})
	return r
}

func (r *Recorder) onPath(p *api.Path) {
	n, err := apiutil.GetNativeNlri(p)
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.IsWithdraw {
		delete(r.best, n.String())
		r.events = append(r.events, fmt.Sprintf("del %s %s", n, p.NeighborIp))
		return
	}
	r.best[n.String()] = p
	r.events = append(r.events, fmt.Sprintf("add %s %s", n, p.NeighborIp))
}

// BestFrom returns the peer of the current best path to dest ("<nil>" for
// a local path), ok false if there is none.
func (r *Recorder) BestFrom(dest string) (peer string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.best[dest]
	if !ok {
		return "", false
	}
	return p.NeighborIp, true
}

// RIB follows a speaker's unicast Loc-RIB as bgp.Speaker.Watch delivers
// it (Handler.Unicast): the current paths per prefix, and the EOR and peer events.
type RIB struct {
	Events
	routes map[netip.Prefix][]bgp.UnicastPath
}

// WatchUnicast runs a unicast s.Watch into a new RIB until the test ends.
func WatchUnicast(t testing.TB, s *bgp.Speaker) *RIB {
	t.Helper()
	r := &RIB{routes: map[netip.Prefix][]bgp.UnicastPath{}}
	Background(t, "watch unicast", func(ctx context.Context) error {
		return closedOK(s.Watch(ctx, bgp.Handler{Unicast: r.onRoute, EOR: r.onEOR, Peer: r.onPeer}))
	})
	return r
}

func (r *RIB) onRoute(pfx netip.Prefix, paths []bgp.UnicastPath) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("route %s %d", pfx, len(paths)))
	if len(paths) == 0 {
		delete(r.routes, pfx)
		return
	}
	r.routes[pfx] = slices.Clone(paths)
}

// Text renders the current routes sorted, one a line, as
// "prefix nexthop@peer,...", paths sorted, "local" for our own.
func (r *RIB) Text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for pfx, paths := range r.routes {
		var ps []string
		for _, p := range paths {
			peer := p.Peer
			if peer == "" {
				peer = "local"
			}
			ps = append(ps, p.NextHop.String()+"@"+peer)
		}
		slices.Sort(ps)
		lines = append(lines, pfx.String()+" "+strings.Join(ps, ","))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// WaitRoutes waits until the RIB holds exactly want, lines as Text renders
// them in any order, and fails t if it does not within SessionTimeout.
func (r *RIB) WaitRoutes(t testing.TB, what string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	w := strings.Join(want, "\n")
	deadline := time.Now().Add(SessionTimeout)
	for r.Text() != w {
		if time.Now().After(deadline) {
			t.Fatalf("%s: routes\n%s\nwant\n%s", what, r.Text(), w)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closedOK is err, or nil for bgp.ErrClosed: a watch ends with it when
// the test stopped the speaker first.
func closedOK(err error) error {
	if errors.Is(err, bgp.ErrClosed) {
		return nil
	}
	return err
}
