package bgp

import (
	"context"
	"fmt"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
)

// Watch feeds the three callbacks, in the order GoBGP produced the events,
// from one goroutine:
//
//   - onPath: every Loc-RIB best-path change, our own paths included (their
//     NeighborIp is "<nil>"); a withdrawal has IsWithdraw set and carries
//     the old path. The current table comes first (Init), so nothing is
//     missed between a snapshot and the changes.
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
				if onPath != nil {
					onPath(p)
				}
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
	err := s.srv.WatchEvent(wctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
			{Type: api.WatchEventRequest_Table_Filter_EOR, Init: true},
		}},
	}, handle)
	if err != nil {
		return fmt.Errorf("watch bgp events: %w", err)
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
