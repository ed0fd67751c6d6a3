package bgp

import (
	"context"
	"fmt"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// Prefix limits (bgp.peers[].maxPrefixes).
//
// GoBGP v3.37.0 counts each peer's received routes per address family
// after every UPDATE (pkg/server/peer.go doPrefixLimit; the count is O(1)
// with our patch, third_party/gobgp/PATCHES.md). Beyond the limit it sends
// a Cease "Maximum Number of Prefixes Reached" (RFC 4486), which it maps
// to a Hard Reset (RFC 8538) for a peer that negotiated the N bit: both
// sides drop each other's routes at once, no graceful restart for a
// session ended on purpose. It then holds the neighbour in admin state
// PFX_CT: idle, refusing its connections, and never dialling it again
// until someone enables it. The speaker watches for that state, logs and
// counts it, and enables the peer again PrefixLimitRestart later, as FRR's
// `neighbor X maximum-prefix N restart M` does; a peer that still sends
// too much is closed again, once per delay.
const (
	// DefaultMaxPrefixes is every peer's limit unless bgp.peers[] says
	// otherwise, discovered and Kubernetes peers included. It is five times
	// the 100,000 type-2 routes of a 1,000-node × 100-pod fleet that a
	// route reflector sends every host (twice over with dual stack, one
	// type-2 per address), and half of a full IPv4 Internet table (~1M
	// routes): a fabric router that leaks the default-free zone into the
	// session trips it, instead of costing the agent gigabytes.
	DefaultMaxPrefixes = 500_000
	// defaultPrefixLimitRestart is how long a peer that exceeded its limit
	// stays down.
	defaultPrefixLimitRestart = 60 * time.Second
)

// limits holds the peers GoBGP holds down for their prefix limit, each
// with the timer that enables it again.
type limits struct {
	mu       sync.Mutex
	restart  time.Duration
	held     map[string]*time.Timer
	exceeded uint64 // sessions closed for a prefix limit
}

// watchLimits starts a peer-event watcher (no paths: it costs GoBGP no
// encoding) that acts on a neighbour entering admin state PFX_CT.
func (s *Speaker) watchLimits(ctx context.Context) error {
	err := s.srv.WatchEvent(ctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, func(r *api.WatchEventResponse) {
		st := r.GetPeer().GetPeer().GetState()
		if st.GetAdminState() != api.PeerState_PFX_CT {
			return
		}
		s.prefixLimited(st.GetNeighborAddress(), st.GetPeerAsn())
	})
	if err != nil {
		return fmt.Errorf("watch bgp peer events: %w", err)
	}
	return nil
}

// prefixLimited runs on GoBGP's watcher goroutine: it only logs, counts
// and arms the timer.
func (s *Speaker) prefixLimited(addr string, asn uint32) {
	limit := s.configured(addr).MaxPrefixes
	s.lim.mu.Lock()
	defer s.lim.mu.Unlock()
	if _, ok := s.lim.held[addr]; ok || s.life.Err() != nil {
		return // GoBGP reports every FSM step; the first one counts
	}
	s.lim.exceeded++
	s.log.Warn("bgp peer sent more routes than its maxPrefixes: session closed with a Cease, routes dropped",
		"peer", addr, "asn", asn, "maxPrefixes", limit, "retryIn", s.lim.restart)
	s.lim.held[addr] = time.AfterFunc(s.lim.restart, func() { s.enableLimited(addr) })
}

// enableLimited enables a peer held down for its prefix limit.
func (s *Speaker) enableLimited(addr string) {
	s.lim.mu.Lock()
	delete(s.lim.held, addr)
	s.lim.mu.Unlock()
	if s.life.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.life, 10*time.Second)
	defer cancel()
	if err := s.srv.EnablePeer(ctx, &api.EnablePeerRequest{Address: addr}); err != nil {
		// Deleted meanwhile: a peer added again starts enabled.
		s.log.Debug("bgp peer not enabled again after its prefix limit", "peer", addr, "err", err)
		return
	}
	s.log.Info("bgp peer enabled again after its prefix limit", "peer", addr)
}

// stopLimits stops the pending timers (Close).
func (s *Speaker) stopLimits() {
	s.lim.mu.Lock()
	defer s.lim.mu.Unlock()
	for addr, t := range s.lim.held {
		t.Stop()
		delete(s.lim.held, addr)
	}
}

// configured is the configuration of peer addr (zero if none).
func (s *Speaker) configured(addr string) PeerConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[addr]
}

// LimitStats is what the prefix limits did.
type LimitStats struct {
	Exceeded uint64 // sessions closed because the peer sent too many routes
	Held     int    // peers held down now, waiting to be enabled again
}

// LimitStats reports the prefix limits' counts.
func (s *Speaker) LimitStats() LimitStats {
	s.lim.mu.Lock()
	defer s.lim.mu.Unlock()
	return LimitStats{Exceeded: s.lim.exceeded, Held: len(s.lim.held)}
}
