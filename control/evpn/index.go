package evpn

import "github.com/vxbgp/vxbgp/overlay"

// index is the received routes' desired state kept up to date one route at
// a time: for each FDB, neighbour and flood key, the routes that claim it,
// and the keys whose winner may have changed since the loop last took
// them (take). A received route thus costs O(its entries), not a rebuild
// of the whole table; buildState is what the index must always agree
// with (the tests compare them after random sequences of routes).
//
// Its winners follow buildState's rules: the highest MAC mobility
// sequence, then the lowest VTEP (FDB) or the lowest MAC (neighbour).
type index struct {
	fdb   claims[overlay.FDBKey]
	neigh claims[overlay.NeighKey]
	flood map[overlay.Flood]int32

	dirtyFDB   map[overlay.FDBKey]struct{}
	dirtyNeigh map[overlay.NeighKey]struct{}
	dirtyFlood map[overlay.Flood]struct{}
}

func newIndex() index {
	return index{
		fdb: newClaims[overlay.FDBKey](), neigh: newClaims[overlay.NeighKey](), flood: map[overlay.Flood]int32{},
		dirtyFDB: map[overlay.FDBKey]struct{}{}, dirtyNeigh: map[overlay.NeighKey]struct{}{}, dirtyFlood: map[overlay.Flood]struct{}{},
	}
}

// add records the claims of e, keyed k, and marks their keys.
func (x *index) add(k rxKey, e *entry) {
	mac, ip, vtep := e.where(k)
	for vni, neigh := range e.applies() {
		if k.kind == RouteType3 {
			f := overlay.Flood{VNI: vni, VTEP: vtep}
			x.flood[f]++
			x.dirtyFlood[f] = struct{}{}
			continue
		}
		fk := overlay.FDBKey{VNI: vni, MAC: mac}
		x.fdb.add(fk, e)
		x.dirtyFDB[fk] = struct{}{}
		if neigh {
			nk := overlay.NeighKey{VNI: vni, IP: ip}
			x.neigh.add(nk, e)
			x.dirtyNeigh[nk] = struct{}{}
		}
	}
}

// remove forgets the claims of e, keyed k, and marks their keys.
func (x *index) remove(k rxKey, e *entry) {
	mac, ip, vtep := e.where(k)
	for vni, neigh := range e.applies() {
		if k.kind == RouteType3 {
			f := overlay.Flood{VNI: vni, VTEP: vtep}
			if c := x.flood[f] - 1; c > 0 {
				x.flood[f] = c
			} else {
				delete(x.flood, f)
			}
			x.dirtyFlood[f] = struct{}{}
			continue
		}
		fk := overlay.FDBKey{VNI: vni, MAC: mac}
		x.fdb.drop(fk, e)
		x.dirtyFDB[fk] = struct{}{}
		if neigh {
			nk := overlay.NeighKey{VNI: vni, IP: ip}
			x.neigh.drop(nk, e)
			x.dirtyNeigh[nk] = struct{}{}
		}
	}
}

// take returns the changes of the marked keys, each set to its winner or
// deleted, and clears the marks.
func (x *index) take() overlay.Delta {
	var d overlay.Delta
	for f := range x.dirtyFlood {
		if x.flood[f] > 0 {
			d.SetFlood(f)
		} else {
			d.DelFlood(f)
		}
	}
	if len(x.dirtyFDB) > 0 {
		d.FDB = make([]overlay.Change[overlay.FDBKey, overlay.FDB], 0, len(x.dirtyFDB))
	}
	for k := range x.dirtyFDB {
		if f, ok := x.fdbWinner(k); ok {
			d.SetFDB(f)
		} else {
			d.DelFDB(k)
		}
	}
	if len(x.dirtyNeigh) > 0 {
		d.Neigh = make([]overlay.Change[overlay.NeighKey, overlay.Neigh], 0, len(x.dirtyNeigh))
	}
	for k := range x.dirtyNeigh {
		if n, ok := x.neighWinner(k); ok {
			d.SetNeigh(n)
		} else {
			d.DelNeigh(k)
		}
	}
	x.dirtyFlood = emptied(x.dirtyFlood)
	x.dirtyFDB = emptied(x.dirtyFDB)
	x.dirtyNeigh = emptied(x.dirtyNeigh)
	return d
}

// emptied returns m emptied: cleared if it is small, else a new map. A
// cleared map keeps its buckets, and ranging over it costs what it once
// held: after a burst of 100,000 changes, every later take would.
func emptied[K comparable](m map[K]struct{}) map[K]struct{} {
	if len(m) > 256 {
		return map[K]struct{}{}
	}
	clear(m)
	return m
}

func (x *index) fdbWinner(k overlay.FDBKey) (win overlay.FDB, ok bool) {
	var winSeq uint32
	for e := range x.fdb.all(k) {
		vtep := e.vtep2()
		if ok && (e.seq < winSeq || (e.seq == winSeq && !vtep.Less(win.VTEP))) {
			continue
		}
		win, winSeq, ok = overlay.FDB{VNI: k.VNI, MAC: k.MAC, VTEP: vtep}, e.seq, true
	}
	return win, ok
}

func (x *index) neighWinner(k overlay.NeighKey) (win overlay.Neigh, ok bool) {
	var winSeq uint32
	for e := range x.neigh.all(k) {
		if ok && (e.seq < winSeq || (e.seq == winSeq && string(e.mac[:]) >= string(win.MAC[:]))) {
			continue
		}
		win, winSeq, ok = overlay.Neigh{VNI: k.VNI, IP: k.IP, MAC: e.mac}, e.seq, true
	}
	return win, ok
}

// maxSeq is the highest MAC mobility sequence among the received routes
// that claim k, and whether any does.
func (x *index) maxSeq(k overlay.FDBKey) (seq uint32, found bool) {
	for e := range x.fdb.all(k) {
		if !found || e.seq > seq {
			seq, found = e.seq, true
		}
	}
	return seq, found
}
