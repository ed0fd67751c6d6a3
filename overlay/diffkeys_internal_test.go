package overlay

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// slice returns the entries of s at the dirty keys (a copy): the part of
// the desired state, or of the kernel, a partial pass compares. Keys s
// lacks are absent from the result too, so Diff of the kernel's part and
// the desired part deletes them if the kernel has them.
func (k *dirty) slice(s State) State {
	part := NewState()
	for vni := range k.devices {
		if d, ok := s.Devices[vni]; ok {
			part.Devices[vni] = d
		}
	}
	for key := range k.fdb {
		if f, ok := s.FDB[key]; ok {
			part.FDB[key] = f
		}
	}
	for f := range k.flood {
		if _, ok := s.Flood[f]; ok {
			part.Flood[f] = struct{}{}
		}
	}
	for key := range k.neigh {
		if n, ok := s.Neigh[key]; ok {
			part.Neigh[key] = n
		}
	}
	for p := range k.routes {
		if r, ok := s.Routes[p]; ok {
			part.Routes[p] = r.Clone()
		}
	}
	return part
}

// A partial pass's diff is Diff of the two parts at the dirty keys, op
// for op: random states over small key spaces (so that keys are in one,
// the other, both alike or both different) and random dirty sets.
func TestDirtyDiffIsDiffOfSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	random := func() State {
		s := NewState()
		for v := range 4 {
			if r.IntN(2) == 0 {
				s.AddDevice(Device{VNI: uint32(v), Bridge: "br", MTU: 1400 + r.IntN(2)})
			}
		}
		for range 40 {
			s.AddFDB(FDB{VNI: uint32(r.IntN(3)), MAC: MAC{2, 0, 0, 0, 0, byte(r.IntN(20))}, VTEP: addr(r.IntN(3))})
			s.AddFlood(Flood{VNI: uint32(r.IntN(3)), VTEP: addr(r.IntN(4))})
			s.AddNeigh(Neigh{VNI: uint32(r.IntN(2)), IP: addr(100 + r.IntN(20)), MAC: MAC{2, 0, 0, 0, 1, byte(r.IntN(3))}})
			s.AddRoute(NewRoute(netip.PrefixFrom(addr(r.IntN(10)), 32), addr(200+r.IntN(3))))
		}
		return s
	}
	kinds := map[OpKind]int{}
	for i := range 500 {
		cur, want := random(), random()
		var d Delta // dirty keys: from both states and beyond, a random share
		for _, s := range []State{cur, want, random()} {
			d.Devices = someOf(r, d.Devices, s.Devices)
			d.FDB = someOf(r, d.FDB, s.FDB)
			d.Flood = someOf(r, d.Flood, s.Flood)
			d.Neigh = someOf(r, d.Neigh, s.Neigh)
			d.Routes = someOf(r, d.Routes, s.Routes)
		}
		var k dirty
		k.add(d)
		ops := k.diff(cur, want)
		for _, op := range ops {
			kinds[op.Kind]++
		}
		got, ref := opsText(ops), opsText(Diff(k.slice(cur), k.slice(want)))
		if got != ref {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, ref)
		}
	}
	if kinds[OpSet] == 0 || kinds[OpDel] == 0 {
		t.Fatalf("ops by kind %v: the cases test nothing", kinds)
	}
	t.Logf("ops by kind %v", kinds)
}

func opsText(ops []Op) string {
	s := ""
	for _, op := range ops {
		s += op.String() + "\n"
	}
	return s
}

// someOf appends a Set of about two thirds of m's entries, chosen by r, to
// into.
func someOf[K comparable, V any](r *rand.Rand, into []Change[K, V], m map[K]V) []Change[K, V] {
	for k, v := range m {
		if r.IntN(3) > 0 {
			into = append(into, Set(k, v))
		}
	}
	return into
}

// BenchmarkDirtyDiff100k is the partial pass of a peer's full table: 100,000
// FDB entries wanted, none in the kernel yet, every key dirty.
func BenchmarkDirtyDiff100k(b *testing.B) {
	const n = 100_000
	cur, want := NewState(), NewState()
	var d Delta
	for i := range n {
		f := FDB{VNI: 100, MAC: MAC{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, VTEP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})}
		want.AddFDB(f)
		d.SetFDB(f)
	}
	var k dirty
	k.add(d)
	b.ReportAllocs()
	for b.Loop() {
		if ops := k.diff(cur, want); len(ops) != n {
			b.Fatalf("%d ops, want %d", len(ops), n)
		}
	}
}

// BenchmarkDirtyAdd100k marks the keys of one Delta of 100,000 FDB
// entries, as Reconciler.Update does.
func BenchmarkDirtyAdd100k(b *testing.B) {
	var d Delta
	for i := range 100_000 {
		d.SetFDB(FDB{VNI: 100, MAC: MAC{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, VTEP: netip.AddrFrom4([4]byte{10, 1, 0, 1})})
	}
	b.ReportAllocs()
	for b.Loop() {
		var k dirty
		k.add(d)
	}
}
