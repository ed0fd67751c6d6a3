package server

// vxbgp patch: the best-path changes of the paths of one UPDATE (one
// propagateUpdate call) reach the neighbours and the watchers together.
//
// v3.37.0 called propagateUpdateToNeighbors once per path: per path it
// built the best and old lists, sent the best-path watchers an event of
// one path (each a trip through the watcher's InfiniteChannel and its
// goroutine), and for each neighbour filtered that one path and queued an
// outgoing message of its own, later an UPDATE of its own. An UPDATE of
// 100 type-2 routes made 100 of each; 100,000 routes from a peer, 100,000
// watcher events and, on a route reflector, 100,000 one-route UPDATEs per
// client. Here consecutive paths of one family, all announcements or all
// withdrawals, are handed on in one call with all their destinations'
// changes, in order, as one call already handles the several changes
// of a path that moved a MAC (MAC mobility).
//
// Paths keep their per-path handling where the lists would mean something
// else: from a route-server client (a table per client), of the RTC family
// (RFC 4684 handling sends on its own in the loop), and of a family some
// neighbour sends with ADD-PATH (that branch filters and counts the one new
// path). Announcements and withdrawals are not mixed in one call, as the
// packer sends a message's withdrawals before its announcements; within
// one kind, the order of the paths is kept.

import (
	"github.com/osrg/gobgp/v3/internal/pkg/table"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// propagateBatchMax bounds a call: a peer's whole table, dropped at once
// (DropAll), still goes out and to the watchers in pieces.
const propagateBatchMax = 512

type propagateBatch struct {
	s      *BgpServer
	rib    *table.TableManager
	source *peer
	rs     bool

	first *table.Path // the first path of the pending ones
	dsts  []*table.Update
	n     int // paths pending

	// whether the last family asked about may be batched
	family    bgp.RouteFamily
	known, ok bool
}

func (s *BgpServer) newPropagateBatch(rib *table.TableManager, source *peer, rs bool) *propagateBatch {
	return &propagateBatch{s: s, rib: rib, source: source, rs: rs}
}

// add hands path's destination changes on, now or with the pending ones.
func (b *propagateBatch) add(path *table.Path, dsts []*table.Update) {
	if !b.batchable(path.GetRouteFamily()) {
		b.flush()
		b.s.propagateUpdateToNeighbors(b.rib, b.source, path, dsts, true)
		return
	}
	if b.first != nil && (b.first.GetRouteFamily() != path.GetRouteFamily() || b.first.IsWithdraw != path.IsWithdraw) {
		b.flush()
	}
	if b.first == nil {
		b.first = path
	}
	b.dsts = append(b.dsts, dsts...)
	b.n++
	if b.n >= propagateBatchMax {
		b.flush()
	}
}

// flush hands the pending paths' changes on.
func (b *propagateBatch) flush() {
	if b.first == nil {
		return
	}
	b.s.propagateUpdateToNeighbors(b.rib, b.source, b.first, b.dsts, true)
	// nothing keeps dsts (the lists handed on are built from it)
	b.first, b.dsts, b.n = nil, b.dsts[:0], 0
}

// batchable says whether paths of family f may be handed on together.
func (b *propagateBatch) batchable(f bgp.RouteFamily) bool {
	if b.rs || f == bgp.RF_RTC_UC {
		return false
	}
	if b.known && b.family == f {
		return b.ok
	}
	b.family, b.known, b.ok = f, true, true
	for _, p := range b.s.neighborMap {
		if p.isAddPathSendEnabled(f) || p.isAddPathSendEnabled(vrfFamily(p, f)) {
			b.ok = false
			break
		}
	}
	return b.ok
}

// vrfFamily is the family propagateUpdateToNeighbors sends a path of
// family f to peer p in: a VPN family's unicast one for a peer in a VRF.
func vrfFamily(p *peer, f bgp.RouteFamily) bgp.RouteFamily {
	p.fsm.lock.RLock()
	vrf := p.fsm.pConf.Config.Vrf
	p.fsm.lock.RUnlock()
	if vrf == "" {
		return f
	}
	switch f {
	case bgp.RF_IPv4_VPN:
		return bgp.RF_IPv4_UC
	case bgp.RF_IPv6_VPN:
		return bgp.RF_IPv6_UC
	case bgp.RF_FS_IPv4_VPN:
		return bgp.RF_FS_IPv4_UC
	case bgp.RF_FS_IPv6_VPN:
		return bgp.RF_FS_IPv6_UC
	}
	return f
}
