package evpn

import "github.com/vxbgp/vxbgp/overlay"

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
	k := keyOf(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.rx[k]
	if r.Withdraw {
		if old == nil {
			return false
		}
		s.idx.remove(k, old)
		delete(s.rx, k)
		return old.contributes()
	}
	e, j, outside := contributions(r, k, s.byVNI, s.cfg.VTEP)
	if old == nil || !sameRoute(old, e) { // judge, count and log once per route version
		if j != applies {
			s.reject(j, "route ignored", "peer", r.Peer, "route", r.Key, "vni", r.VNIs, "vtep", r.VTEP())
		}
		for _, vni := range outside {
			s.reject(outsideSubnet, "remote ip outside the network's subnet: no neighbour entry",
				"peer", r.Peer, "vni", vni, "mac", r.MAC, "ip", r.IP, "vtep", r.NextHop)
		}
	}
	if old != nil && sameContributions(k, old, e) {
		*old = *e // a refresh (graceful restart, soft reset): the claims hold old, nothing to publish
		return false
	}
	s.rx[k] = e
	if old != nil {
		s.idx.remove(k, old)
	}
	s.idx.add(k, e)
	return old != nil || j == applies
}

// sameRoute reports whether two versions of one route were judged on the
// same values (the key holds the IP and the type-3's originator).
func sameRoute(a, b *entry) bool {
	return a.nextHop == b.nextHop && a.seq == b.seq && a.vnis == b.vnis && (a.full == nil) == (b.full == nil) &&
		(a.full == nil || (a.full.IP == b.full.IP && a.full.Originator == b.full.Originator))
}

// remoteSeq is the highest MAC mobility sequence among the received
// routes for k, and whether any remote VTEP announces k at all: a lookup
// in the index.
func (s *Source) remoteSeq(k overlay.FDBKey) (seq uint32, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.maxSeq(k)
}
