package overlay

import (
	"cmp"
	"net/netip"
	"slices"
)

// Diff returns the operations that turn cur into want, in the order they must
// be applied. All sets come before any delete, so a changed entry never
// disappears in between. Sets go device → neighbour → FDB → flood: entries
// need their device, and the neighbour (which makes the bridge answer ARP for
// a remote IP) goes in with or before the FDB entry that makes the MAC
// reachable, never long after. Deletes go the reverse way, flood → FDB →
// neighbour → device, so nothing points at a device that is gone (as flannel's
// vxlan backend orders its ARP and FDB updates). Deletes of entries whose
// device is deleted too are still emitted: they are idempotent and keep the
// fake and the kernel in step.
//
// Diff is pure and deterministic: within a kind, operations are sorted.
func Diff(cur, want State) []Op {
	var ops []Op
	// Sets.
	for _, vni := range sortedKeys(want.Devices) {
		d := want.Devices[vni]
		if c, ok := cur.Devices[vni]; !ok || c != d {
			ops = append(ops, Op{Kind: OpSet, Device: &d})
		}
	}
	for _, k := range sortedNeighKeys(want.Neigh) {
		n := want.Neigh[k]
		if c, ok := cur.Neigh[k]; !ok || c != n {
			ops = append(ops, Op{Kind: OpSet, Neigh: &n})
		}
	}
	for _, k := range sortedFDBKeys(want.FDB) {
		f := want.FDB[k]
		if c, ok := cur.FDB[k]; !ok || c != f {
			ops = append(ops, Op{Kind: OpSet, FDB: &f})
		}
	}
	for _, f := range sortedFloods(want.Flood) {
		if _, ok := cur.Flood[f]; !ok {
			ops = append(ops, Op{Kind: OpSet, Flood: &f})
		}
	}
	// Deletes, reversed.
	for _, f := range sortedFloods(cur.Flood) {
		if _, ok := want.Flood[f]; !ok {
			ops = append(ops, Op{Kind: OpDel, Flood: &f})
		}
	}
	for _, k := range sortedFDBKeys(cur.FDB) {
		if _, ok := want.FDB[k]; !ok {
			f := cur.FDB[k]
			ops = append(ops, Op{Kind: OpDel, FDB: &f})
		}
	}
	for _, k := range sortedNeighKeys(cur.Neigh) {
		if _, ok := want.Neigh[k]; !ok {
			n := cur.Neigh[k]
			ops = append(ops, Op{Kind: OpDel, Neigh: &n})
		}
	}
	for _, vni := range sortedKeys(cur.Devices) {
		if _, ok := want.Devices[vni]; !ok {
			d := cur.Devices[vni]
			ops = append(ops, Op{Kind: OpDel, Device: &d})
		}
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

func sortedNeighKeys(m map[NeighKey]Neigh) []NeighKey {
	ks := make([]NeighKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b NeighKey) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), a.IP.Compare(b.IP))
	})
	return ks
}

func sortedFDBKeys(m map[FDBKey]FDB) []FDBKey {
	ks := make([]FDBKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b FDBKey) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), compareMAC(a.MAC, b.MAC))
	})
	return ks
}

func sortedFloods(m map[Flood]struct{}) []Flood {
	ks := make([]Flood, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b Flood) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), compareAddr(a.VTEP, b.VTEP))
	})
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
