package overlay

import "slices"

// diff returns Diff(k.slice(cur), k.slice(want)), the ops of a partial
// pass, without building either part: for each dirty key it looks the
// entry up in both states. A pass during a burst of 100,000 received
// routes had copied every dirty entry of the desired state and of the
// kernel's into two fresh States only to compare them, a third of the
// reconciler's own CPU and as many maps for the collector. The parts carry
// no NAT table, so neither does this diff. The order is Diff's: the same
// helpers sort each kind.
func (k *dirty) diff(cur, want State) []Op {
	var setDev, delDev []uint32
	for vni := range k.devices {
		w, inWant := want.Devices[vni]
		c, inCur := cur.Devices[vni]
		switch {
		case inWant && (!inCur || c != w):
			setDev = append(setDev, vni)
		case inCur && !inWant:
			delDev = append(delDev, vni)
		}
	}
	setNeigh, delNeigh := diffKeys(k.neigh, cur.Neigh, want.Neigh, func(a, b Neigh) bool { return a == b })
	setFDB, delFDB := diffKeys(k.fdb, cur.FDB, want.FDB, func(a, b FDB) bool { return a == b })
	var setFlood, delFlood []Flood
	for f := range k.flood {
		_, inWant := want.Flood[f]
		_, inCur := cur.Flood[f]
		switch {
		case inWant && !inCur:
			setFlood = append(setFlood, f)
		case inCur && !inWant:
			delFlood = append(delFlood, f)
		}
	}
	setRoute, delRoute := diffKeys(k.routes, cur.Routes, want.Routes, Route.Equal)
	// The ops, sized once: a pass during a burst is 100,000 of them, and
	// growing by appends copied them about twice over.
	ops := make([]Op, 0, len(setDev)+len(delDev)+len(setNeigh)+len(delNeigh)+len(setFDB)+len(delFDB)+
		len(setFlood)+len(delFlood)+len(setRoute)+len(delRoute))
	for _, vni := range sorted(setDev) {
		d := want.Devices[vni]
		ops = append(ops, Op{Kind: OpSet, Device: &d})
	}
	ops = appendNeighs(ops, OpSet, setNeigh)
	ops = appendFDBs(ops, OpSet, setFDB)
	ops = appendFloods(ops, OpSet, setFlood)
	ops = appendRoutes(ops, OpSet, setRoute)
	// Deletes, reversed.
	ops = appendRoutes(ops, OpDel, delRoute)
	ops = appendFloods(ops, OpDel, delFlood)
	ops = appendFDBs(ops, OpDel, delFDB)
	ops = appendNeighs(ops, OpDel, delNeigh)
	for _, vni := range sorted(delDev) {
		d := cur.Devices[vni]
		ops = append(ops, Op{Kind: OpDel, Device: &d})
	}
	if len(ops) == 0 {
		return nil // as before: no pass to run
	}
	return ops
}

// diffKeys returns, among keys, want's entries that cur lacks or holds
// otherwise (sets) and cur's entries that want lacks (deletes). Both share
// one array sized once, sets from its start and deletes from its end: a
// pass during a burst has 100,000 of them, and growing two slices by
// appends (a quarter at a time past a few hundred) allocated about five
// times their final size. The ops point into the array (appendFDBs etc.).
func diffKeys[K comparable, V any](keys map[K]struct{}, cur, want map[K]V, eq func(a, b V) bool) (sets, dels []V) {
	if len(keys) == 0 {
		return nil, nil
	}
	out := make([]V, len(keys))
	ns, nd := 0, len(out)
	for key := range keys {
		w, inWant := want[key]
		c, inCur := cur[key]
		switch {
		case inWant && (!inCur || !eq(c, w)):
			out[ns] = w
			ns++
		case inCur && !inWant:
			nd--
			out[nd] = c
		}
	}
	// capped, so that no append runs into the other's part
	return out[:ns:ns], out[nd:]
}

func sorted(ks []uint32) []uint32 {
	slices.Sort(ks)
	return ks
}
