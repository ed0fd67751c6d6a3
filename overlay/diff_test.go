package overlay_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

func dev(vni uint32) overlay.Device {
	return overlay.Device{
		VNI:        vni,
		Network:    fmt.Sprintf("net%d", vni),
		Bridge:     overlay.BridgeName(vni),
		VXLAN:      overlay.VXLANName(vni),
		VTEP:       netip.MustParseAddr("10.0.0.1"),
		Underlay:   "eth0",
		Port:       4789,
		MTU:        1450,
		GatewayMAC: overlay.DefaultGatewayMAC,
		Gateway:    netip.MustParsePrefix("10.244.0.1/16"),
	}
}

// routedDev is dev(vni) without VXLAN device, as routed mode has it.
func routedDev(vni uint32) overlay.Device {
	d := dev(vni)
	d.VXLAN, d.VTEP, d.Underlay, d.Port = "", netip.Addr{}, "", 0
	d.ProxyARP = true
	return d
}

// route is the route to dst via the gateways (normalised).
func route(dst string, via ...string) overlay.Route {
	var vs []netip.Addr
	for _, v := range via {
		vs = append(vs, netip.MustParseAddr(v))
	}
	return overlay.NewRoute(netip.MustParsePrefix(dst), vs...)
}

func fdb(vni uint32, mac, vtep string) overlay.FDB {
	return overlay.FDB{VNI: vni, MAC: overlay.MustParseMAC(mac), VTEP: netip.MustParseAddr(vtep)}
}

func flood(vni uint32, vtep string) overlay.Flood {
	return overlay.Flood{VNI: vni, VTEP: netip.MustParseAddr(vtep)}
}

func neigh(vni uint32, ip, mac string) overlay.Neigh {
	return overlay.Neigh{VNI: vni, IP: netip.MustParseAddr(ip), MAC: overlay.MustParseMAC(mac)}
}

// state builds a State from devices and entries of any kind.
func state(objs ...any) overlay.State {
	s := overlay.NewState()
	for _, o := range objs {
		switch v := o.(type) {
		case overlay.Device:
			s.AddDevice(v)
		case overlay.FDB:
			s.AddFDB(v)
		case overlay.Flood:
			s.AddFlood(v)
		case overlay.Neigh:
			s.AddNeigh(v)
		case overlay.Route:
			s.AddRoute(v)
		default:
			panic(fmt.Sprintf("state of %T", o))
		}
	}
	return s
}

func opStrings(ops []overlay.Op) string {
	var ls []string
	for _, o := range ops {
		ls = append(ls, o.String())
	}
	return strings.Join(ls, "\n")
}

func TestDiff(t *testing.T) {
	d100 := dev(100)
	d100mtu := dev(100)
	d100mtu.MTU = 1400
	full := state(d100, dev(200),
		fdb(100, "02:00:00:00:00:02", "10.0.0.2"), fdb(100, "02:00:00:00:00:01", "10.0.0.3"),
		flood(100, "10.0.0.3"), flood(100, "10.0.0.2"),
		neigh(100, "10.244.2.2", "02:00:00:00:00:02"), neigh(200, "10.244.1.2", "02:00:00:00:00:01"))
	for _, tc := range []struct {
		name      string
		cur, want overlay.State
		ops       string
	}{
		{"nothing", overlay.State{}, overlay.NewState(), ""},
		{"equal", full, full.Clone(), ""},
		{"from scratch: device, neigh, fdb, flood, sorted", overlay.NewState(), full, `
set device vxbr100/vxlan100 vni 100
set device vxbr200/vxlan200 vni 200
set neigh vni 100 10.244.2.2 lladdr 02:00:00:00:00:02
set neigh vni 200 10.244.1.2 lladdr 02:00:00:00:00:01
set fdb vni 100 02:00:00:00:00:01 dst 10.0.0.3
set fdb vni 100 02:00:00:00:00:02 dst 10.0.0.2
set flood vni 100 dst 10.0.0.2
set flood vni 100 dst 10.0.0.3`},
		{"to nothing: flood, fdb, neigh, device", full, overlay.NewState(), `
del flood vni 100 dst 10.0.0.2
del flood vni 100 dst 10.0.0.3
del fdb vni 100 02:00:00:00:00:01 dst 10.0.0.3
del fdb vni 100 02:00:00:00:00:02 dst 10.0.0.2
del neigh vni 100 10.244.2.2 lladdr 02:00:00:00:00:02
del neigh vni 200 10.244.1.2 lladdr 02:00:00:00:00:01
del device vxbr100/vxlan100 vni 100
del device vxbr200/vxlan200 vni 200`},
		{"changed entries are set in place, never deleted",
			state(d100, fdb(100, "02:00:00:00:00:01", "10.0.0.2"), neigh(100, "10.244.2.2", "02:00:00:00:00:01")),
			state(d100mtu, fdb(100, "02:00:00:00:00:01", "10.0.0.3"), neigh(100, "10.244.2.2", "02:00:00:00:00:09")), `
set device vxbr100/vxlan100 vni 100
set neigh vni 100 10.244.2.2 lladdr 02:00:00:00:00:09
set fdb vni 100 02:00:00:00:00:01 dst 10.0.0.3`},
		{"sets before deletes: a MAC moves networks",
			state(d100, dev(200), fdb(100, "02:00:00:00:00:01", "10.0.0.2"), flood(100, "10.0.0.2")),
			state(d100, dev(200), fdb(200, "02:00:00:00:00:01", "10.0.0.2"), flood(200, "10.0.0.2")), `
set fdb vni 200 02:00:00:00:00:01 dst 10.0.0.2
set flood vni 200 dst 10.0.0.2
del flood vni 100 dst 10.0.0.2
del fdb vni 100 02:00:00:00:00:01 dst 10.0.0.2`},
		{"from scratch with routes: routes last",
			overlay.NewState(),
			state(routedDev(100), route("10.244.3.0/24", "10.0.0.3"), route("10.244.2.0/24", "10.0.0.3", "10.0.0.2"),
				neigh(100, "10.244.9.9", "02:00:00:00:00:09")), `
set device vxbr100 vni 100
set neigh vni 100 10.244.9.9 lladdr 02:00:00:00:00:09
set route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2 nexthop via 10.0.0.3
set route 10.244.3.0/24 proto vxbgp nexthop via 10.0.0.3`},
		{"to nothing: routes first",
			state(routedDev(100), route("10.244.2.0/24", "10.0.0.2"), neigh(100, "10.244.9.9", "02:00:00:00:00:09")),
			overlay.NewState(), `
del route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2
del neigh vni 100 10.244.9.9 lladdr 02:00:00:00:00:09
del device vxbr100 vni 100`},
		{"changed gateways are a set, unchanged routes nothing",
			state(route("10.244.2.0/24", "10.0.0.2"), route("10.244.3.0/24", "10.0.0.3"), route("fd00:2::/64", "fd99::2", "fd99::3")),
			state(route("10.244.2.0/24", "10.0.0.2", "10.0.0.4"), route("10.244.3.0/24", "10.0.0.3"), route("fd00:2::/64", "fd99::3")), `
set route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2 nexthop via 10.0.0.4
set route fd00:2::/64 proto vxbgp nexthop via fd99::3`},
		{"overlay to routed: the device is set, routes go in before the L2 entries go",
			state(d100, fdb(100, "02:00:00:00:00:01", "10.0.0.2"), flood(100, "10.0.0.2"), neigh(100, "10.244.2.2", "02:00:00:00:00:01")),
			state(routedDev(100), route("10.244.2.0/24", "10.0.0.2")), `
set device vxbr100 vni 100
set route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2
del flood vni 100 dst 10.0.0.2
del fdb vni 100 02:00:00:00:00:01 dst 10.0.0.2
del neigh vni 100 10.244.2.2 lladdr 02:00:00:00:00:01`},
		{"routed to overlay: the device is set, L2 entries go in before the routes go",
			state(routedDev(100), route("10.244.2.0/24", "10.0.0.2")),
			state(d100, fdb(100, "02:00:00:00:00:01", "10.0.0.2"), flood(100, "10.0.0.2"), neigh(100, "10.244.2.2", "02:00:00:00:00:01")), `
set device vxbr100/vxlan100 vni 100
set neigh vni 100 10.244.2.2 lladdr 02:00:00:00:00:01
set fdb vni 100 02:00:00:00:00:01 dst 10.0.0.2
set flood vni 100 dst 10.0.0.2
del route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2`},
		{"a removed device's entries are deleted before it",
			state(d100, dev(200), fdb(200, "02:00:00:00:00:01", "10.0.0.2"), neigh(200, "10.244.1.2", "02:00:00:00:00:01")),
			state(d100), `
del fdb vni 200 02:00:00:00:00:01 dst 10.0.0.2
del neigh vni 200 10.244.1.2 lladdr 02:00:00:00:00:01
del device vxbr200/vxlan200 vni 200`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := overlay.Diff(tc.cur, tc.want)
			if got, want := opStrings(ops), strings.TrimPrefix(tc.ops, "\n"); got != want {
				t.Fatalf("ops:\n%s\nwant:\n%s", got, want)
			}
			if again := opStrings(overlay.Diff(tc.cur, tc.want)); again != opStrings(ops) {
				t.Fatalf("Diff is not deterministic:\n%s\nthen:\n%s", opStrings(ops), again)
			}
		})
	}
}

// randomState draws a state from a small universe, so that two draws
// overlap, differ and conflict (same key, other value): networks in
// either mode (one without VXLAN device has no FDB or flood entries) and
// routes with one or more gateways.
func randomState(r *rand.Rand) overlay.State {
	s := overlay.NewState()
	vteps := []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}
	for vni := uint32(1); vni <= 3; vni++ {
		if r.IntN(4) == 0 {
			continue
		}
		d := dev(vni)
		routed := r.IntN(3) == 0
		if routed {
			d = routedDev(vni)
		}
		d.MTU = 1400 + 50*r.IntN(2)
		s.AddDevice(d)
		for i := range 6 {
			mac := fmt.Sprintf("02:00:00:00:%02x:%02x", vni, i)
			if !routed && r.IntN(2) == 0 {
				s.AddFDB(fdb(vni, mac, vteps[r.IntN(len(vteps))]))
			}
			if r.IntN(3) == 0 {
				s.AddNeigh(neigh(vni, fmt.Sprintf("10.%d.0.%d", vni, i), mac))
			}
		}
		for _, v := range vteps {
			if !routed && r.IntN(2) == 0 {
				s.AddFlood(flood(vni, v))
			}
		}
	}
	for block := range 4 {
		var via []string
		for _, v := range vteps {
			if r.IntN(2) == 0 {
				via = append(via, v)
			}
		}
		if len(via) > 0 {
			s.AddRoute(route(fmt.Sprintf("10.244.%d.0/24", block), via...))
		}
	}
	return s
}

// TestDiffProperties checks, over random pairs of states, that applying
// Diff(cur, want) to cur gives want, also on the fake kernel (which refuses
// what the kernel refuses), that all sets precede all deletes, that nothing
// still wanted is deleted, and that Diff of a state with itself is empty.
func TestDiffProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		cur, want := randomState(r), randomState(r)
		ops := overlay.Diff(cur, want)
		got := cur.Clone()
		deleting := false
		for _, o := range ops {
			if o.Kind == overlay.OpDel {
				deleting = true
				wantAfter := want.Clone()
				wantAfter.Apply(o)
				if wantAfter.Len() != want.Len() {
					t.Fatalf("pair %d: %s deletes something wanted", i, o)
				}
			} else if deleting {
				t.Fatalf("pair %d: %s comes after a delete:\n%s", i, o, opStrings(ops))
			}
			got.Apply(o)
		}
		if !got.Equal(want) {
			t.Fatalf("pair %d: applying the diff gives\n%s\nwant\n%s", i, got, want)
		}
		fake := newFake(t, cur)
		for _, o := range ops {
			if err := fake.Apply(context.Background(), o); err != nil {
				t.Fatalf("pair %d: the fake kernel refuses %s: %v", i, o, err)
			}
		}
		if !fake.State().Equal(want) {
			t.Fatalf("pair %d: the fake kernel holds\n%s\nwant\n%s", i, fake.State(), want)
		}
		if ops := overlay.Diff(want, want.Clone()); len(ops) != 0 {
			t.Fatalf("pair %d: Diff(s, s) = %s", i, opStrings(ops))
		}
	}
}

// BenchmarkDiff100k diffs a network of 100k remote MACs against a desired
// state in which 1% of them changed: 500 moved to another VTEP, 250 left and
// 250 arrived (vxbgp). Its floor (clone) copies every map of the desired
// state with maps.Clone, touching each of its 100k entries once, as Diff
// must at least.
// vxbgp-bench (bench/gobench.go) reads both sub-benchmarks by name.
func BenchmarkDiff100k(b *testing.B) {
	const n = 100_000
	cur := overlay.NewState()
	cur.AddDevice(dev(100))
	macOf := func(i int) overlay.MAC {
		return overlay.MAC{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
	}
	vtepOf := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}) }
	for i := range n {
		cur.AddFDB(overlay.FDB{VNI: 100, MAC: macOf(i), VTEP: vtepOf(i % 1000)})
	}
	want := cur.Clone()
	for i := 0; i < n; i += 100 { // 1000 changes
		switch k := i / 100; {
		case k%2 == 0:
			want.AddFDB(overlay.FDB{VNI: 100, MAC: macOf(i), VTEP: vtepOf(1001)})
		case k%4 == 1:
			delete(want.FDB, overlay.FDBKey{VNI: 100, MAC: macOf(i)})
		default:
			want.AddFDB(overlay.FDB{VNI: 100, MAC: macOf(n + i), VTEP: vtepOf(7)})
		}
	}
	b.Run("vxbgp", func(b *testing.B) {
		var ops []overlay.Op
		b.ReportAllocs()
		for b.Loop() {
			ops = overlay.Diff(cur, want)
		}
		if len(ops) != 1000 {
			b.Fatalf("%d ops, want 1000", len(ops))
		}
	})
	b.Run("clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := overlay.State{Devices: maps.Clone(want.Devices), FDB: maps.Clone(want.FDB), Flood: maps.Clone(want.Flood),
				Neigh: maps.Clone(want.Neigh), Routes: maps.Clone(want.Routes)}
			if len(c.FDB) != len(want.FDB) {
				b.Fatal(len(c.FDB))
			}
		}
	})
}
