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
	fdb   map[overlay.FDBKey][]*entry
	neigh map[overlay.NeighKey][]*entry
	flood map[overlay.Flood]int32

	dirtyFDB   map[overlay.FDBKey]struct{}
	dirtyNeigh map[overlay.NeighKey]struct{}
	dirtyFlood map[overlay.Flood]struct{}
}

func newIndex() index {
	return index{
		fdb: map[overlay.FDBKey][]*entry{}, neigh: map[overlay.NeighKey][]*entry{}, flood: map[overlay.Flood]int32{},
		dirtyFDB: map[overlay.FDBKey]struct{}{}, dirtyNeigh: map[overlay.NeighKey]struct{}{}, dirtyFlood: map[overlay.Flood]struct{}{},
	}
}

// add records e's claims and marks their keys.
func (x *index) add(e *entry) {
	for _, f := range e.floods {
		x.flood[f]++
		x.dirtyFlood[f] = struct{}{}
	}
	for _, f := range e.fdbs {
		k := f.Key()
		x.fdb[k] = append(x.fdb[k], e)
		x.dirtyFDB[k] = struct{}{}
	}
	for _, n := range e.neighs {
		k := n.Key()
		x.neigh[k] = append(x.neigh[k], e)
		x.dirtyNeigh[k] = struct{}{}
	}
}

// remove forgets e's claims and marks their keys.
func (x *index) remove(e *entry) {
	for _, f := range e.floods {
		if c := x.flood[f] - 1; c > 0 {
			x.flood[f] = c
		} else {
			delete(x.flood, f)
		}
		x.dirtyFlood[f] = struct{}{}
	}
	for _, f := range e.fdbs {
		k := f.Key()
		dropClaim(x.fdb, k, e)
		x.dirtyFDB[k] = struct{}{}
	}
	for _, n := range e.neighs {
		k := n.Key()
		dropClaim(x.neigh, k, e)
		x.dirtyNeigh[k] = struct{}{}
	}
}

// swap puts b in a's place, for a route whose contributions did not change
// (sameContributions): no key changes.
func (x *index) swap(a, b *entry) {
	for _, f := range a.fdbs {
		replaceClaim(x.fdb[f.Key()], a, b)
	}
	for _, n := range a.neighs {
		replaceClaim(x.neigh[n.Key()], a, b)
	}
}

func dropClaim[K comparable](m map[K][]*entry, k K, e *entry) {
	es := m[k]
	for i, c := range es {
		if c == e {
			es[i] = es[len(es)-1]
			es[len(es)-1] = nil
			es = es[:len(es)-1]
			break
		}
	}
	if len(es) == 0 {
		delete(m, k)
	} else {
		m[k] = es
	}
}

func replaceClaim(es []*entry, a, b *entry) {
	for i, c := range es {
		if c == a {
			es[i] = b
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
	for k := range x.dirtyFDB {
		if f, ok := x.fdbWinner(k); ok {
			d.SetFDB(f)
		} else {
			d.DelFDB(k)
		}
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
	for _, e := range x.fdb[k] {
		for _, f := range e.fdbs {
			if f.Key() != k {
				continue
			}
			if ok && (e.r.Seq < winSeq || (e.r.Seq == winSeq && !f.VTEP.Less(win.VTEP))) {
				continue
			}
			win, winSeq, ok = f, e.r.Seq, true
		}
	}
	return win, ok
}

func (x *index) neighWinner(k overlay.NeighKey) (win overlay.Neigh, ok bool) {
	var winSeq uint32
	for _, e := range x.neigh[k] {
		for _, n := range e.neighs {
			if n.Key() != k {
				continue
			}
			if ok && (e.r.Seq < winSeq || (e.r.Seq == winSeq && string(n.MAC[:]) >= string(win.MAC[:]))) {
				continue
			}
			win, winSeq, ok = n, e.r.Seq, true
		}
	}
	return win, ok
}

// maxSeq is the highest MAC mobility sequence among the received routes
// that claim k, and whether any does.
func (x *index) maxSeq(k overlay.FDBKey) (seq uint32, found bool) {
	for _, e := range x.fdb[k] {
		if !found || e.r.Seq > seq {
			seq, found = e.r.Seq, true
		}
	}
	return seq, found
}
