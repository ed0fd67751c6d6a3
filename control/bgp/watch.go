package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	packet "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobgp "github.com/osrg/gobgp/v3/pkg/server"
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
	// Converting a path to an *api.Path costs microseconds (protobuf Any
	// values, marshalled here and unmarshalled by the reader): a consumer
	// of many paths uses Received.
	Path func(p *api.Path)
	// Received gets what Path gets, as GoBGP parsed it, without protobuf.
	// control/evpn/translate_decode.go decodes them; nothing else outside
	// this package sees a GoBGP type.
	Received func(p RxPath)
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

// RxPath is a Loc-RIB best-path change as GoBGP parsed it
// (Handler.Received). NLRI and Attrs are the speaker's own values, shared
// with its table (Attrs is the table's own list, not a copy): read them
// during the callback, never change them or keep the slice.
type RxPath struct {
	NLRI     packet.AddrPrefixInterface
	Attrs    []packet.PathAttributeInterface
	Peer     string // the neighbour it came from; "" for our own paths
	Withdraw bool   // the path withdrawn
}

// Watch runs one GoBGP watcher and feeds every handler from it, in turn,
// each seeing every event. The agent hands all its consumers to one Watch:
// they register before it starts, and nothing waits for late ones. All
// kinds of event ride on the one watcher because separate watchers are not
// ordered relative to each other. Note that a graceful restart of a peer
// produces no path events: its routes stay (stale) until it sends EOR, and
// only then are the ones it did not re-send withdrawn.
//
// Watch blocks until ctx ends (it returns nil) or the speaker is closed
// (ErrClosed); no callback runs after it returned.
func (s *Speaker) Watch(ctx context.Context, hs ...Handler) error {
	var paths, received, unicast bool
	for _, h := range hs {
		paths = paths || h.Path != nil
		received = received || h.Received != nil
		unicast = unicast || h.Unicast != nil
	}
	var peers peerNames
	return s.watch(ctx, func(ps []gobgp.WatchPath) {
		if paths || received {
			for _, p := range ps {
				// With UseMultiplePaths an event lists a destination's
				// whole tie set, best first: report the best one only.
				if !p.First {
					continue
				}
				var ap *api.Path
				if paths {
					ap = p.API()
				}
				var rx RxPath
				if received {
					rx = RxPath{NLRI: p.NLRI(), Attrs: p.Attrs(), Peer: peers.of(p.Neighbor()), Withdraw: p.IsWithdraw()}
				}
				for _, h := range hs {
					if h.Path != nil {
						h.Path(ap)
					}
					if h.Received != nil {
						h.Received(rx)
					}
				}
			}
		}
		if unicast {
			var ups []*api.Path
			for _, p := range ps {
				if f := p.Family(); f == packet.RF_IPv4_UC || f == packet.RF_IPv6_UC {
					ups = append(ups, p.API())
				}
			}
			s.unicastRoutes(ups, func(pfx netip.Prefix, set []UnicastPath) {
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

// peerNames renders peer addresses, reusing the last text: the paths of
// one event mostly come from one peer.
type peerNames struct {
	ip   net.IP
	name string
}

func (n *peerNames) of(ip net.IP) string {
	if ip == nil {
		return "" // a local path (WatchEvent's NeighborIp "<nil>")
	}
	if n.name == "" || !ip.Equal(n.ip) {
		n.ip, n.name = ip, ip.String()
	}
	return n.name
}

// familyOf names a GoBGP route family as FamilyName does.
func familyOf(f packet.RouteFamily) string {
	afi, safi := packet.RouteFamilyToAfiSafi(f)
	return FamilyName(&api.Family{Afi: api.Family_Afi(afi), Safi: api.Family_Safi(safi)})
}

// watch runs one GoBGP watcher: the paths of each table event go to
// onPaths together (End-of-RIB markers, which come in events of their own,
// to onEOR).
func (s *Speaker) watch(ctx context.Context, onPaths func([]gobgp.WatchPath), onEOR func(family string, peer string), onPeer func(peer string, established bool)) error {
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
	handlePaths := func(ps []gobgp.WatchPath) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		n := 0 // ps is the event's own slice: filter it in place
		for _, p := range ps {
			if p.IsEOR() {
				if onEOR != nil {
					onEOR(familyOf(p.Family()), p.Neighbor().String())
				}
				continue
			}
			ps[n] = p
			n++
		}
		if n > 0 {
			onPaths(ps[:n])
		}
	}
	handle := func(r *api.WatchEventResponse) {
		mu.Lock()
		defer mu.Unlock()
		if done {
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
	if err := s.startWatcher(wctx, handlePaths, handle); err != nil {
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

// startWatcher starts one GoBGP watcher until ctx ends: best-path changes
// and End-of-RIB markers to onPaths, the current table first, unconverted
// (our GoBGP patch, vxbgp_watch.go); peer state changes to handle.
func (s *Speaker) startWatcher(ctx context.Context, onPaths func([]gobgp.WatchPath), handle func(*api.WatchEventResponse)) error {
	s.gobgpWatchers.Add(1)
	err := s.srv.WatchEventNative(ctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
			{Type: api.WatchEventRequest_Table_Filter_EOR, Init: true},
		}},
	}, onPaths, handle)
	if err != nil {
		return fmt.Errorf("watch bgp events: %w", err)
	}
	return nil
}
