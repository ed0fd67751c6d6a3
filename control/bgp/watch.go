package bgp

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// Watch feeds the three callbacks, in the order GoBGP produced the events,
// from one goroutine:
//
//   - onPath: every Loc-RIB best-path change, our own paths included (their
//     NeighborIp is "<nil>"); a withdrawal has IsWithdraw set and carries
//     the old path. The current table comes first (Init), so nothing is
//     missed between a snapshot and the changes. A path may be reported
//     again unchanged (when a path that tied with it came or went).
//   - onEOR(family, peer): an End-of-RIB marker received from peer; the
//     ones already received come first. family is FamilyEVPN etc.
//   - onPeer(peer, established): a neighbour's session became established
//     (true) or stopped being established (false); sessions already up
//     when Watch starts are reported first.
//
// All three ride on one GoBGP watcher because separate watchers are not
// ordered relative to each other. Note that a graceful restart of a peer
// produces no path events: its routes stay (stale) until it sends EOR, and
// only then are the ones it did not re-send withdrawn.
//
// Watch blocks until ctx ends (it returns nil) or the speaker is closed
// (ErrClosed); no callback runs after it returned. Callbacks must be cheap and must not
// call back into the speaker: GoBGP queues events for a slow watcher
// without bound, so a stuck callback costs memory, not BGP progress. Any
// callback may be nil.
func (s *Speaker) Watch(ctx context.Context, onPath func(p *api.Path), onEOR func(family string, peer string), onPeer func(peer string, established bool)) error {
	return s.watch(ctx, func(paths []*api.Path) {
		if onPath == nil {
			return
		}
		// With UseMultiplePaths an event lists a destination's whole tie
		// set, best first: report the best one only.
		var prev *api.Path
		for _, p := range paths {
			if !sameNLRI(prev, p) {
				onPath(p)
			}
			prev = p
		}
	}, onEOR, onPeer)
}

// WatchUnicast is Watch for ipv4/ipv6 unicast with ECMP: onRoute receives,
// for every prefix whose set of best paths changed, the whole new set —
// the best path and every path that ties with it (GoBGP's multipath set:
// same local preference, AS-path length, origin and MED; eBGP beats iBGP;
// a local path beats all). An empty set means the prefix is gone. Our own
// paths are included, with Peer "". The current table comes first. EVPN
// paths are not reported; onEOR and onPeer are as for Watch.
func (s *Speaker) WatchUnicast(ctx context.Context, onRoute func(prefix netip.Prefix, paths []UnicastPath), onEOR func(family string, peer string), onPeer func(peer string, established bool)) error {
	return s.watch(ctx, func(paths []*api.Path) {
		if onRoute != nil {
			s.unicastRoutes(paths, onRoute)
		}
	}, onEOR, onPeer)
}

// sameNLRI reports whether two paths of one event are for one destination.
func sameNLRI(a, b *api.Path) bool {
	if a == nil || b == nil || a.Nlri == nil || b.Nlri == nil {
		return false
	}
	return FamilyName(a.Family) == FamilyName(b.Family) && a.Nlri.TypeUrl == b.Nlri.TypeUrl &&
		bytes.Equal(a.Nlri.Value, b.Nlri.Value)
}

// watch runs one GoBGP watcher: the paths of each table event go to
// onPaths together (End-of-RIB markers, which come in events of their own,
// to onEOR).
func (s *Speaker) watch(ctx context.Context, onPaths func([]*api.Path), onEOR func(family string, peer string), onPeer func(peer string, established bool)) error {
	s.wmu.Lock()
	if s.life.Err() != nil {
		s.wmu.Unlock()
		return ErrClosed
	}
	s.watches.Add(1)
	s.wmu.Unlock()
	defer s.watches.Done()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()

	var (
		mu   sync.Mutex // held while a callback runs, so that none runs after return
		done bool
		up   = map[string]bool{} // last established state reported per peer
	)
	handle := func(r *api.WatchEventResponse) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		if t := r.GetTable(); t != nil {
			paths := make([]*api.Path, 0, len(t.GetPaths()))
			for _, p := range t.GetPaths() {
				if p == nil {
					continue
				}
				if p.Nlri == nil { // End-of-RIB markers carry no NLRI
					if onEOR != nil {
						onEOR(FamilyName(p.Family), p.NeighborIp)
					}
					continue
				}
				paths = append(paths, p)
			}
			if len(paths) > 0 {
				onPaths(paths)
			}
			return
		}
		pe := r.GetPeer()
		if pe == nil || (pe.Type != api.WatchEventResponse_PeerEvent_INIT && pe.Type != api.WatchEventResponse_PeerEvent_STATE) {
			return
		}
		addr := pe.GetPeer().GetState().GetNeighborAddress()
		if addr == "" || addr == "<nil>" {
			return
		}
		est := pe.GetPeer().GetState().GetSessionState() == api.PeerState_ESTABLISHED
		if up[addr] == est {
			return // GoBGP reports every FSM step; we report established edges
		}
		up[addr] = est
		if onPeer != nil {
			onPeer(addr, est)
		}
	}
	if !s.joinShared(handle) {
		if err := s.startWatcher(wctx, handle); err != nil {
			return err
		}
	}
	<-wctx.Done()
	mu.Lock()
	done = true
	mu.Unlock()
	if ctx.Err() == nil {
		return ErrClosed
	}
	return nil
}

// startWatcher starts one GoBGP watcher feeding handle until ctx ends:
// best-path changes and End-of-RIB markers, the current table first, and
// peer state changes.
func (s *Speaker) startWatcher(ctx context.Context, handle func(*api.WatchEventResponse)) error {
	s.gobgpWatchers.Add(1)
	err := s.srv.WatchEvent(ctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
			{Type: api.WatchEventRequest_Table_Filter_EOR, Init: true},
		}},
	}, handle)
	if err != nil {
		return fmt.Errorf("watch bgp events: %w", err)
	}
	return nil
}

// watchJoinWait bounds how long the first caller of a shared watcher waits
// for the others (the agent starts its sources together).
const watchJoinWait = time.Second

// sharedWatch is the one GoBGP watcher that the first Config.Watchers
// Watch calls share (see Config.Watchers). Each caller keeps its own
// handler state (established edges, done flag); the handlers run in turn
// on GoBGP's watch goroutine, each seeing every event in GoBGP's order,
// the current table first, as with a watcher of its own. Nothing is
// missed while the first caller waits: the current table comes first once
// the watcher starts.
type sharedWatch struct {
	mu       sync.Mutex
	want     int
	handlers []func(*api.WatchEventResponse)
	started  bool
	timer    *time.Timer
}

// joinShared adds handle to the shared watcher and reports whether it did;
// false means the caller needs a watcher of its own (sharing is off, or
// the shared one already started).
func (s *Speaker) joinShared(handle func(*api.WatchEventResponse)) bool {
	w := &s.shared
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.want < 2 || w.started {
		return false
	}
	w.handlers = append(w.handlers, handle)
	switch {
	case len(w.handlers) == w.want:
		s.startShared()
	case w.timer == nil:
		w.timer = time.AfterFunc(watchJoinWait, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if !w.started {
				s.log.Debug("shared bgp watch starts without every caller", "joined", len(w.handlers), "want", w.want)
				s.startShared()
			}
		})
	}
	return true
}

// startShared starts the shared watcher for the speaker's life; w.mu is
// held.
func (s *Speaker) startShared() {
	w := &s.shared
	w.started = true
	if w.timer != nil {
		w.timer.Stop()
	}
	hs := slices.Clone(w.handlers)
	err := s.startWatcher(s.life, func(r *api.WatchEventResponse) {
		for _, h := range hs {
			h(r)
		}
	})
	if err != nil {
		// Only a malformed request fails here, which startWatcher does
		// not make; the callers would see no events, so say it loudly.
		s.log.Error("shared bgp watch did not start", "err", err)
	}
}
