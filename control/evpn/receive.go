package evpn

import (
	"slices"

	"github.com/vxbgp/vxbgp/overlay"
)

// receive applies one decoded route from the speaker's watch (onPath, in
// translate.go) and pokes the loop if the desired state may have changed.
// It runs on the watch goroutine and never blocks on the loop.
func (s *Source) receive(r Route) {
	if r.Peer == "" {
		return // our own path
	}
	if s.ingest(r) {
		s.loop.KickRx()
	}
}

// ingest applies one received route to the store and reports whether the
// desired state may have changed. A route for a key replaces the previous
// one (GoBGP sends no withdrawal when the best path changes).
func (s *Source) ingest(r Route) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.rx[r.Key]
	if r.Withdraw {
		if old == nil {
			return false
		}
		s.idx.remove(old)
		delete(s.rx, r.Key)
		return len(old.floods)+len(old.fdbs)+len(old.neighs) > 0
	}
	e, j, outside := contributions(r, s.byVNI, s.cfg.VTEP)
	if old == nil || !sameRoute(old.r, r) { // judge, count and log once per route version
		if j != applies {
			s.reject(j, "route ignored", "peer", r.Peer, "route", r.Key, "vni", r.VNIs, "vtep", r.VTEP())
		}
		for _, vni := range outside {
			s.reject(outsideSubnet, "remote ip outside the network's subnet: no neighbour entry",
				"peer", r.Peer, "vni", vni, "mac", r.MAC, "ip", r.IP, "vtep", r.NextHop)
		}
	}
	s.rx[r.Key] = e
	if old != nil && sameContributions(old, e) {
		s.idx.swap(old, e) // a refresh (graceful restart, soft reset): nothing to publish
		return false
	}
	if old != nil {
		s.idx.remove(old)
	}
	s.idx.add(e)
	return old != nil || j == applies
}

func sameRoute(a, b Route) bool {
	return a.Key == b.Key && a.NextHop == b.NextHop && a.Originator == b.Originator && a.Seq == b.Seq &&
		a.IP == b.IP && slices.Equal(a.VNIs, b.VNIs)
}

// remoteSeq is the highest MAC mobility sequence among the received
// routes for k, and whether any remote VTEP announces k at all: a lookup
// in the index.
func (s *Source) remoteSeq(k overlay.FDBKey) (seq uint32, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.maxSeq(k)
}
