package overlay

import (
	"cmp"
	"net/netip"
	"slices"
)

// Diff returns the operations that turn cur into want, in the order they must
// be applied. All sets come before any delete, so a changed entry never
// disappears in between. Sets go device → neighbour → FDB → flood → route:
// entries need their device, and the neighbour (which makes the bridge answer
// ARP for a remote IP) goes in with or before the FDB entry that makes the
// MAC reachable, never long after. Deletes go the reverse way, route → flood
// → FDB → neighbour → device, so nothing points at a device that is gone (as
// flannel's vxlan backend orders its ARP and FDB updates). Deletes of entries
// whose device is deleted too are still emitted: they are idempotent and keep
// the fake and the kernel in step.
//
// Routes depend on no device of ours (their gateways are on the underlay);
// they close the sets and open the deletes so that a change from the L2 path
// to the L3 one (overlay to routed) has the new routes in place before the
// first L2 entry goes, and the other way round has the L2 entries in place
// before the first route goes. A route whose gateways changed is set again
// (the kernel replaces it), never deleted and re-added. A device whose VXLAN
// device comes or goes is set too.
//
// The NAT table is one object, set whole (the kernel swaps it in one
// transaction) before anything else: a new network's subnet must be
// exempt from masquerading before the first route or device towards it
// exists, or the first packets of a flow to it would leave masqueraded,
// and conntrack keeps a flow's NAT binding for its whole life. It is
// deleted last, when no network wants NAT any more.
//
// Diff is pure and deterministic: within a kind, operations are sorted.
func Diff(cur, want State) []Op {
	var ops []Op
	natChanged := !cur.NAT.Equal(want.NAT)
	if natChanged && !want.NAT.IsZero() {
		n := want.NAT.Clone()
		ops = append(ops, Op{Kind: OpSet, NAT: &n})
	}
	// Sets.
	for _, vni := range sortedKeys(want.Devices) {
		d := want.Devices[vni]
		if c, ok := cur.Devices[vni]; !ok || c != d {
			ops = append(ops, Op{Kind: OpSet, Device: &d})
		}
	}
	var neighs []Neigh
	for k, n := range want.Neigh {
		if c, ok := cur.Neigh[k]; !ok || c != n {
			neighs = append(neighs, n)
		}
	}
	ops = appendNeighs(ops, OpSet, neighs)
	var fdbs []FDB
	for k, f := range want.FDB {
		if c, ok := cur.FDB[k]; !ok || c != f {
			fdbs = append(fdbs, f)
		}
	}
	ops = appendFDBs(ops, OpSet, fdbs)
	var floods []Flood
	for f := range want.Flood {
		if _, ok := cur.Flood[f]; !ok {
			floods = append(floods, f)
		}
	}
	ops = appendFloods(ops, OpSet, floods)
	var routes []Route
	for k, r := range want.Routes {
		if c, ok := cur.Routes[k]; !ok || !c.Equal(r) {
			routes = append(routes, r)
		}
	}
	ops = appendRoutes(ops, OpSet, routes)
	// Deletes, reversed.
	routes = nil // a new one: the set ops point into the old
	for k, r := range cur.Routes {
		if _, ok := want.Routes[k]; !ok {
			routes = append(routes, r)
		}
	}
	ops = appendRoutes(ops, OpDel, routes)
	floods = nil // a new one: the set ops point into the old
	for f := range cur.Flood {
		if _, ok := want.Flood[f]; !ok {
			floods = append(floods, f)
		}
	}
	ops = appendFloods(ops, OpDel, floods)
	fdbs = nil // a new one: the set ops point into the old
	for k, f := range cur.FDB {
		if _, ok := want.FDB[k]; !ok {
			fdbs = append(fdbs, f)
		}
	}
	ops = appendFDBs(ops, OpDel, fdbs)
	neighs = nil // a new one: the set ops point into the old
	for k, n := range cur.Neigh {
		if _, ok := want.Neigh[k]; !ok {
			neighs = append(neighs, n)
		}
	}
	ops = appendNeighs(ops, OpDel, neighs)
	for _, vni := range sortedKeys(cur.Devices) {
		if _, ok := want.Devices[vni]; !ok {
			d := cur.Devices[vni]
			ops = append(ops, Op{Kind: OpDel, Device: &d})
		}
	}
	if natChanged && want.NAT.IsZero() {
		n := cur.NAT.Clone()
		ops = append(ops, Op{Kind: OpDel, NAT: &n})
	}
	return ops
}

// appendNeighs, appendFDBs, appendFloods and appendRoutes sort the entries that change
// (not the whole state: a pass over 100k entries changes few) and append
// one op each, pointing into the slice: the caller hands it over.
func appendNeighs(ops []Op, k OpKind, ns []Neigh) []Op {
	slices.SortFunc(ns, func(a, b Neigh) int { return cmp.Or(cmp.Compare(a.VNI, b.VNI), a.IP.Compare(b.IP)) })
	for i := range ns {
		ops = append(ops, Op{Kind: k, Neigh: &ns[i]})
	}
	return ops
}

func appendFDBs(ops []Op, k OpKind, fs []FDB) []Op {
	slices.SortFunc(fs, func(a, b FDB) int { return cmp.Or(cmp.Compare(a.VNI, b.VNI), compareMAC(a.MAC, b.MAC)) })
	for i := range fs {
		ops = append(ops, Op{Kind: k, FDB: &fs[i]})
	}
	return ops
}

func appendFloods(ops []Op, k OpKind, fs []Flood) []Op {
	slices.SortFunc(fs, func(a, b Flood) int { return cmp.Or(cmp.Compare(a.VNI, b.VNI), compareAddr(a.VTEP, b.VTEP)) })
	for i := range fs {
		ops = append(ops, Op{Kind: k, Flood: &fs[i]})
	}
	return ops
}

func appendRoutes(ops []Op, k OpKind, rs []Route) []Op {
	slices.SortFunc(rs, func(a, b Route) int { return a.Dst.Compare(b.Dst) })
	for i := range rs {
		rs[i] = rs[i].Clone() // the op must not share Via with either state
		ops = append(ops, Op{Kind: k, Route: &rs[i]})
	}
	return ops
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	ks := make([]uint32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func compareMAC(a, b MAC) int {
	for i := range a {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareAddr(a, b netip.Addr) int { return a.Compare(b) }
