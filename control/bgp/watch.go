package bgp

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
)

// Handler is one consumer of a Watch. Its callbacks run on the watch's
// goroutine, in the order GoBGP produced the events; any may be nil.
// They must be cheap and must not call back into the speaker: GoBGP
// queues events for a slow watcher without bound, so a stuck callback
// costs memory, not BGP progress.
type Handler struct {
	// Path gets every Loc-RIB best-path change, our own paths included
	// (their NeighborIp is "<nil>"); a withdrawal has IsWithdraw set and
	// carries the old path. The current table comes first, so nothing is
	// missed between a snapshot and the changes. A path may be reported
	// again unchanged (when a path that tied with it came or went).
	// control/evpn/translate_decode.go decodes them; nothing else outside this
	// package sees a GoBGP type.
	Path func(p *api.Path)
	// Unicast gets, for every ipv4/ipv6 unicast prefix whose set of best
	// paths changed, the whole new set: the best path and every path
	// that ties with it (GoBGP's multipath set: same local preference,
	// AS-path length, origin and MED; eBGP beats iBGP; a local path beats
	// all). An empty set means the prefix is gone. Our own paths are
	// included, with Peer "". The current table comes first.
	Unicast func(prefix netip.Prefix, paths []UnicastPath)
	// EOR gets an End-of-RIB marker received from peer; the ones already
	// received come first. family is FamilyEVPN etc.
	EOR func(family string, peer string)
	// Peer gets a neighbour's session becoming established (true) or
	// ceasing to be (false); sessions already up come first.
	Peer func(peer string, established bool)
}

// Watch runs one GoBGP watcher and feeds every handler from it, in turn,
// each seeing every event. GoBGP encodes each path change into an
// *api.Path once per watcher, so the agent hands all its consumers to one
// Watch: they register before it starts, and nothing waits for late ones.
// All kinds of event ride on the one watcher because separate watchers
// are not ordered relative to each other. Note that a graceful restart of
// a peer produces no path events: its routes stay (stale) until it sends
// EOR, and only then are the ones it did not re-send withdrawn.
//
// Watch blocks until ctx ends (it returns nil) or the speaker is closed
// (ErrClosed); no callback runs after it returned.
func (s *Speaker) Watch(ctx context.Context, hs ...Handler) error {
	var paths, unicast bool
	for _, h := range hs {
		paths = paths || h.Path != nil
		unicast = unicast || h.Unicast != nil
	}
	return s.watch(ctx, func(ps []*api.Path) {
		if paths {
			// With UseMultiplePaths an event lists a destination's whole
			// tie set, best first: report the best one only.
			var prev *api.Path
			for _, p := range ps {
				if !sameNLRI(prev, p) {
					for _, h := range hs {
						if h.Path != nil {
							h.Path(p)
						}
					}
				}
				prev = p
			}
		}
		if unicast {
			s.unicastRoutes(ps, func(pfx netip.Prefix, set []UnicastPath) {
				for _, h := range hs {
					if h.Unicast != nil {
						h.Unicast(pfx, set)
					}
				}
			})
		}
	}, func(family, peer string) {
		for _, h := range hs {
			if h.EOR != nil {
				h.EOR(family, peer)
			}
		}
	}, func(peer string, up bool) {
		for _, h := range hs {
			if h.Peer != nil {
				h.Peer(peer, up)
			}
		}
	})
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
	if err := s.startWatcher(wctx, handle); err != nil {
		return err
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
