package evpn

import (
	"iter"
	"math/bits"
	"net/netip"
	"slices"
	"unique"

	"github.com/vxbgp/vxbgp/overlay"
)

// entry is one received route (its destination is its rxKey) with what
// it contributes to the desired state, judged once when it arrives
// (networks are fixed for the life of a Source), so that the index's
// claims and a State are merges, and so that a route is judged — and
// logged — once. It is compact (see rxkey.go): 64 bytes, with no string,
// slice or map of its own, where a Route with its strings and per-route
// slices of FDB and neighbour entries took ~450 bytes; at 100,000 routes
// that is tens of MB, twice over at the collector's peak.
type entry struct {
	nextHop unique.Handle[netip.Addr] // interned: a few VTEPs send all the routes
	peer    unique.Handle[string]     // the neighbour it came from
	vnis    vniSet                    // its route targets' VNIs (Route.VNIs)
	// applied are the VNIs of vnis that are local networks: a type-3's
	// originator joins their flood lists, a type-2's MAC goes behind the
	// next hop in each; neigh has bit i set when the type-2's IP is a
	// neighbour on applied's i-th network (inside its subnets).
	applied vniSet
	// full is the whole route, kept only for a key rxKey cannot spell
	// (odd): Routes must still show its MAC and IP.
	full   *Route
	neigh  uint64
	label  uint32
	seq    uint32
	mac    overlay.MAC // a type-2's, also in its key: the index's claims reach it without the key
	sticky bool
}

// vtep2 is where a type-2's traffic goes: its next hop.
func (e *entry) vtep2() netip.Addr {
	if e.full != nil {
		return e.full.NextHop
	}
	return addrValue(e.nextHop)
}

// where is what e, keyed k, puts into the state besides its VNIs: the
// MAC and neighbour IP of a type-2 (an invalid IP for a MAC-only route
// or one of 0.0.0.0), and the VTEP its traffic goes to (the next hop of a
// type-2, the originator of a type-3: what FRR uses, RECIPE §7).
func (e *entry) where(k rxKey) (mac overlay.MAC, ip, vtep netip.Addr) {
	if e.full != nil {
		return e.full.MAC, e.full.IP, e.full.VTEP()
	}
	if k.kind == RouteType3 {
		return mac, ip, k.ip.Unmap()
	}
	if k.ip.IsValid() && !k.ip.IsUnspecified() {
		ip = k.ip.Unmap()
	}
	return k.mac, ip, addrValue(e.nextHop)
}

// applies yields each local network's VNI e applies to and whether e's IP
// is a neighbour there (a type-2 whose IP is inside its subnets).
func (e *entry) applies() iter.Seq2[uint32, bool] {
	return func(yield func(uint32, bool) bool) {
		for i := range e.applied.len() {
			if !yield(e.applied.at(i), e.neigh&(1<<i) != 0) {
				return
			}
		}
	}
}

// contributes reports whether e puts anything into the desired state.
func (e *entry) contributes() bool { return e.applied.len() > 0 }

// route is the Route that e, keyed k, was made of.
func (e *entry) route(k rxKey) Route {
	if e.full != nil {
		return *e.full
	}
	r := Route{Kind: k.kind, RD: handleValue(k.rd), VNIs: e.vnis.slice(), Label: e.label, NextHop: addrValue(e.nextHop),
		Seq: e.seq, Sticky: e.sticky, Peer: handleValue(e.peer), Key: k.text()}
	mac, ip, vtep := e.where(k)
	switch k.kind {
	case RouteType2:
		r.MAC, r.IP = mac, ip
	case RouteType3:
		r.Originator = vtep
	}
	return r
}

// contributions judges r, keyed k, and computes its entry: a route
// applies to every local network whose VNI is among its route targets
// (FRR's auto-RT matching on the VNI part). Type-3: the originator joins
// the VNI's flood list. Type-2: the MAC goes behind the next hop, and an
// IP inside one of the network's subnets (IPv4, and IPv6 on a dual-stack
// network) becomes a neighbour; outsideIP lists the others, whose MAC
// still applies.
func contributions(r Route, k rxKey, nets map[uint32]*Network, self netip.Addr) (e *entry, j judgement, outsideIP []uint32) {
	e = &entry{nextHop: addrHandle(r.NextHop), peer: handle(r.Peer), vnis: makeVNISet(r.VNIs), label: r.Label, seq: r.Seq,
		mac: r.MAC, sticky: r.Sticky}
	if k.odd != (unique.Handle[string]{}) {
		full := r
		e.full = &full
	}
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
	var buf [8]uint32
	applied := buf[:0]
	for _, vni := range r.VNIs {
		n, ok := nets[vni]
		if !ok || (r.Kind != RouteType2 && r.Kind != RouteType3) {
			continue
		}
		j = applies
		applied = append(applied, vni)
		if r.Kind == RouteType2 && r.IP.IsValid() {
			if slices.ContainsFunc(n.Subnets, func(p netip.Prefix) bool { return p.Contains(r.IP) }) {
				e.neigh |= 1 << (len(applied) - 1)
			} else {
				outsideIP = append(outsideIP, vni)
			}
		}
		if len(applied) == 64 { // neigh's bits; no route names more local networks
			break
		}
	}
	e.applied = makeVNISet(applied)
	return e, j, outsideIP
}

// buildState merges the networks' devices and the received routes into the
// desired overlay state from scratch: what the index (index.go) must
// always agree with. It is pure; entries is not modified.
//
// Claims on one MAC are ordered by MAC mobility sequence, highest first
// (RFC 7432 15: the latest move wins), then — two VTEPs claiming a MAC with
// one sequence is a misconfiguration or a race — by lowest VTEP, so that
// every host picks the same one. Claims on one IP (a neighbour) likewise,
// by sequence, then lowest MAC. The maps are built in place; sequences are
// kept aside only when non-zero, which is rare: it keeps a 10k-route
// snapshot to a few milliseconds.
func buildState(nets []Network, entries map[rxKey]*entry) overlay.State {
	nf, nn := 0, 0
	for k, e := range entries {
		if k.kind == RouteType2 {
			nf += e.applied.len()
			nn += bits.OnesCount64(e.neigh)
		}
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
	for k, e := range entries {
		seq := e.seq
		mac, ip, vtep := e.where(k)
		for vni, neigh := range e.applies() {
			if k.kind == RouteType3 {
				st.Flood[overlay.Flood{VNI: vni, VTEP: vtep}] = struct{}{}
				continue
			}
			fk := overlay.FDBKey{VNI: vni, MAC: mac}
			if cur, ok := st.FDB[fk]; !ok || seq > fdbSeq[fk] || (seq == fdbSeq[fk] && vtep.Less(cur.VTEP)) {
				st.FDB[fk] = overlay.FDB{VNI: vni, MAC: mac, VTEP: vtep}
				fdbSeq = setSeq(fdbSeq, fk, seq)
			}
			if !neigh {
				continue
			}
			nk := overlay.NeighKey{VNI: vni, IP: ip}
			if cur, ok := st.Neigh[nk]; !ok || seq > neighSeq[nk] || (seq == neighSeq[nk] && string(mac[:]) < string(cur.MAC[:])) {
				st.Neigh[nk] = overlay.Neigh{VNI: vni, IP: ip, MAC: mac}
				neighSeq = setSeq(neighSeq, nk, seq)
			}
		}
	}
	return st
}

// setSeq records k's winning sequence in m, made only for a non-zero one
// (a missing key reads as 0).
func setSeq[K comparable](m map[K]uint32, k K, seq uint32) map[K]uint32 {
	switch {
	case seq != 0:
		if m == nil {
			m = map[K]uint32{}
		}
		m[k] = seq
	case m != nil:
		delete(m, k)
	}
	return m
}

// sameContributions reports whether two entries for one key k change
// nothing: a refreshed route (graceful restart, a soft reset) then needs
// no new claims.
func sameContributions(k rxKey, a, b *entry) bool {
	if a.seq != b.seq || a.applied != b.applied || a.neigh != b.neigh {
		return false
	}
	am, ai, av := a.where(k)
	bm, bi, bv := b.where(k)
	return !a.contributes() || (am == bm && ai == bi && av == bv)
}

// addrHandle interns an address; the invalid one is the zero handle.
func addrHandle(a netip.Addr) unique.Handle[netip.Addr] {
	if !a.IsValid() {
		return unique.Handle[netip.Addr]{}
	}
	return unique.Make(a)
}

func addrValue(h unique.Handle[netip.Addr]) netip.Addr {
	if h == (unique.Handle[netip.Addr]{}) {
		return netip.Addr{}
	}
	return h.Value()
}
