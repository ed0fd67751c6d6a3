package evpn

import (
	"net/netip"
	"slices"

	"github.com/vxbgp/vxbgp/overlay"
)

// entry is one received route with what it contributes to the desired
// state, computed once when it arrives (networks are fixed for the life of
// a Source), so that building a State is a merge, and so that a route is
// judged — and logged — once, not on every publish.
type entry struct {
	r      Route
	floods []overlay.Flood
	fdbs   []overlay.FDB
	neighs []overlay.Neigh
}

// contributions computes e's entries: a route applies to every local
// network whose VNI is among its route targets (FRR's auto-RT matching on
// the VNI part). Type-3: the originator joins the VNI's flood list.
// Type-2: the MAC goes behind the next hop, and an IP inside one of the
// network's subnets (IPv4, and IPv6 on a dual-stack network) becomes a
// neighbour;
// outsideIP lists the others, whose MAC still applies.
func contributions(r Route, nets map[uint32]*Network, self netip.Addr) (e *entry, j judgement, outsideIP []uint32) {
	e = &entry{r: r}
	vtep := r.VTEP()
	switch {
	case martian(vtep) && !(vtep.IsLoopback() && self.IsLoopback()): // hosts on one machine (tests) share loopback
		return e, martianVTEP, nil
	case vtep == self:
		// Our own routes reflected back (route reflector, eBGP loop) or a
		// host claiming our address: the kernel must never tunnel to itself.
		return e, ownVTEP, nil
	case r.Kind == RouteType2 && (r.MAC.IsZero() || r.MAC[0]&1 == 1):
		// The zero MAC is the flood list's key; a multicast or broadcast
		// MAC behind one VTEP would steal the flooding.
		return e, badMAC, nil
	case r.Kind == RouteType2 && r.Label == 0:
		return e, badLabel, nil
	}
	j = unknownVNI
	for _, vni := range r.VNIs {
		n, ok := nets[vni]
		if !ok {
			continue
		}
		j = applies
		switch r.Kind {
		case RouteType3:
			e.floods = append(e.floods, overlay.Flood{VNI: vni, VTEP: vtep})
		case RouteType2:
			e.fdbs = append(e.fdbs, overlay.FDB{VNI: vni, MAC: r.MAC, VTEP: vtep})
			if r.IP.IsValid() {
				if slices.ContainsFunc(n.Subnets, func(p netip.Prefix) bool { return p.Contains(r.IP) }) {
					e.neighs = append(e.neighs, overlay.Neigh{VNI: vni, IP: r.IP, MAC: r.MAC})
				} else {
					outsideIP = append(outsideIP, vni)
				}
			}
		}
	}
	return e, j, outsideIP
}

// buildState merges the networks' devices and the received routes into the
// desired overlay state. It is pure; entries is not modified.
//
// Claims on one MAC are ordered by MAC mobility sequence, highest first
// (RFC 7432 15: the latest move wins), then — two VTEPs claiming a MAC with
// one sequence is a misconfiguration or a race — by lowest VTEP, so that
// every host picks the same one. Claims on one IP (a neighbour) likewise,
// by sequence, then lowest MAC. The maps are built in place; sequences are
// kept aside only when non-zero, which is rare: it keeps a 10k-route
// snapshot to a few milliseconds.
func buildState(nets []Network, entries map[string]*entry) overlay.State {
	// Sized by a first pass: presizing Neigh by the route count cost 9 MB
	// per snapshot at 100,000 MAC-only routes, which have no neighbour.
	nf, nn := 0, 0
	for _, e := range entries {
		nf += len(e.fdbs)
		nn += len(e.neighs)
	}
	st := overlay.State{
		Devices: make(map[uint32]overlay.Device, len(nets)),
		FDB:     make(map[overlay.FDBKey]overlay.FDB, nf),
		Flood:   map[overlay.Flood]struct{}{},
		Neigh:   make(map[overlay.NeighKey]overlay.Neigh, nn),
	}
	for _, n := range nets {
		d := n.Device
		d.VNI = n.VNI
		st.Devices[d.VNI] = d
	}
	var fdbSeq map[overlay.FDBKey]uint32
	var neighSeq map[overlay.NeighKey]uint32
	for _, e := range entries {
		seq := e.r.Seq
		for _, f := range e.floods {
			st.Flood[f] = struct{}{}
		}
		for _, f := range e.fdbs {
			k := f.Key()
			if cur, ok := st.FDB[k]; ok {
				curSeq := fdbSeq[k]
				if seq < curSeq || (seq == curSeq && !f.VTEP.Less(cur.VTEP)) {
					continue
				}
			}
			st.FDB[k] = f
			if seq != 0 {
				if fdbSeq == nil {
					fdbSeq = map[overlay.FDBKey]uint32{}
				}
				fdbSeq[k] = seq
			} else if fdbSeq != nil {
				delete(fdbSeq, k)
			}
		}
		for _, n := range e.neighs {
			k := n.Key()
			if cur, ok := st.Neigh[k]; ok {
				curSeq := neighSeq[k]
				if seq < curSeq || (seq == curSeq && string(n.MAC[:]) >= string(cur.MAC[:])) {
					continue
				}
			}
			st.Neigh[k] = n
			if seq != 0 {
				if neighSeq == nil {
					neighSeq = map[overlay.NeighKey]uint32{}
				}
				neighSeq[k] = seq
			} else if neighSeq != nil {
				delete(neighSeq, k)
			}
		}
	}
	return st
}

// sameContributions reports whether two entries for one key change
// nothing: a refreshed route (graceful restart, a soft reset) then needs
// no new snapshot.
func sameContributions(a, b *entry) bool {
	if a.r.Seq != b.r.Seq || len(a.floods) != len(b.floods) || len(a.fdbs) != len(b.fdbs) || len(a.neighs) != len(b.neighs) {
		return false
	}
	for i := range a.floods {
		if a.floods[i] != b.floods[i] {
			return false
		}
	}
	for i := range a.fdbs {
		if a.fdbs[i] != b.fdbs[i] {
			return false
		}
	}
	for i := range a.neighs {
		if a.neighs[i] != b.neighs[i] {
			return false
		}
	}
	return true
}
