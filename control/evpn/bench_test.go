package evpn

import (
	"maps"
	"net/netip"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/overlay"
)

// The benchmarks here are run by vxbgp-bench (bench/gobench.go), which
// reads each one's "vxbgp" sub-benchmark next to its reference
// sub-benchmark ("gobgp" or "clone"); keep the names in step.

// received10k is 10k received paths in GoBGP's API form: 9,990 MAC+IP
// type-2 routes and 10 type-3 routes from 10 VTEPs, over two VNIs.
func received10k(b *testing.B) []*api.Path {
	b.Helper()
	var out []*api.Path
	for v := range 10 {
		vtep := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + v)})
		rid := netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + v)})
		out = append(out, viaGoBGP(b, must(Type3(testASN, rid, 1, 100, vtep)), rid.String()))
		for i := range 999 {
			n := v*1000 + i
			mac := overlay.MAC{0x02, 0xdd, 0, byte(v), byte(i >> 8), byte(i)}
			ip := netip.AddrFrom4([4]byte{10, 244, byte(n >> 8), byte(n)})
			vni := uint32(100 + 100*(i%2))
			if vni == 200 {
				ip = netip.AddrFrom4([4]byte{10, 245, byte(n >> 8), byte(n)})
			}
			out = append(out, viaGoBGP(b, must(Type2(testASN, rid, uint16(vni/100), vni, vtep, mac, ip)), rid.String()))
		}
	}
	return out
}

// gobgpParse is what GoBGP itself pays to turn an API path into its native
// form: the NLRI and every path attribute.
func gobgpParse(b *testing.B, p *api.Path) {
	if _, err := apiutil.GetNativeNlri(p); err != nil {
		b.Fatal(err)
	}
	if _, err := apiutil.GetNativePathAttributes(p); err != nil {
		b.Fatal(err)
	}
}

// rxAll is paths as the speaker's watch hands them over (rxOf).
func rxAll(b *testing.B, paths []*api.Path) []bgp.RxPath {
	out := make([]bgp.RxPath, 0, len(paths))
	for _, p := range paths {
		out = append(out, rxOf(b, p, p.NeighborIp))
	}
	return out
}

// BenchmarkDecodeType2: one received MAC+IP type-2 path, as the watch
// hands it over (GoBGP's parse), to a Route (vxbgp), next to GoBGP's own
// apiutil parse of the same path in API form (gobgp): what reading one
// path through GoBGP's API would cost before any value is looked at.
func BenchmarkDecodeType2(b *testing.B) {
	p := viaGoBGP(b, must(Type2(64512, rid1, 1, 100, vtep1, mac1, ip1)), "10.0.0.9")
	rx := rxOf(b, p, "10.0.0.9")
	b.Run("vxbgp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeRx(rx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gobgp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			gobgpParse(b, p)
		}
	})
}

// BenchmarkStateFromPaths10k: 10k received paths, as the watch hands them
// over, to a full State (decode, store, build), what a restarting agent
// does with a full table (vxbgp); the reference is GoBGP's own apiutil
// parse of the same 10k paths in API form, with nothing stored or built
// (gobgp).
func BenchmarkStateFromPaths10k(b *testing.B) {
	paths := received10k(b)
	rxs := rxAll(b, paths)
	nets := testNetworks()
	b.Run("vxbgp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := NewSource(Config{ASN: testASN, RouterID: rid1, VTEP: selfVTEP, Networks: nets}, nil, nil)
			for _, p := range rxs {
				s.onReceived(p)
			}
			st := buildState(s.cfg.Networks, s.rx)
			if len(st.FDB) != 9990 || len(st.Neigh) != 9990 || len(st.Flood) != 10 {
				b.Fatalf("state: %d fdb, %d neigh, %d flood", len(st.FDB), len(st.Neigh), len(st.Flood))
			}
		}
	})
	b.Run("gobgp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range paths {
				gobgpParse(b, p)
			}
		}
	})
}

// BenchmarkBuildState10k: one snapshot from a store of 10k routes, the
// cost paid per publish (vxbgp); the floor is copying the finished
// snapshot, maps.Clone of each of its maps (clone).
func BenchmarkBuildState10k(b *testing.B) {
	s := NewSource(Config{ASN: testASN, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
	for _, p := range rxAll(b, received10k(b)) {
		s.onReceived(p)
	}
	b.Run("vxbgp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st := buildState(s.cfg.Networks, s.rx)
			if len(st.FDB) != 9990 {
				b.Fatal(len(st.FDB))
			}
		}
	})
	want := buildState(s.cfg.Networks, s.rx)
	b.Run("clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st := overlay.State{Devices: maps.Clone(want.Devices), FDB: maps.Clone(want.FDB), Flood: maps.Clone(want.Flood),
				Neigh: maps.Clone(want.Neigh), Routes: maps.Clone(want.Routes)}
			if len(st.FDB) != 9990 {
				b.Fatal(len(st.FDB))
			}
		}
	})
}

// BenchmarkChangeIn100k: what one received route costs the EVPN source
// once 100,000 are stored: ingest and the change it publishes (O(1); a
// whole snapshot of the store, what a publish cost before, is
// BenchmarkBuildState10k's ten times over).
func BenchmarkChangeIn100k(b *testing.B) {
	s := NewSource(Config{ASN: testASN, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
	vtep := netip.MustParseAddr("192.0.2.10")
	for i := range 100000 {
		s.ingest(rt2(vtep, overlay.MAC{2, 0xdd, 0, byte(i >> 16), byte(i >> 8), byte(i)}.String(), "", 0, 100))
	}
	s.idx.take()
	moves := []Route{rt2(vtepC, "02:dd:00:00:00:07", "", 1, 100), rt2(vtepC, "02:dd:00:00:00:07", "", 2, 100)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.ingest(moves[i%2])
		if d := s.idx.take(); len(d.FDB) != 1 {
			b.Fatalf("%d fdb changes", len(d.FDB))
		}
		i++
	}
}
