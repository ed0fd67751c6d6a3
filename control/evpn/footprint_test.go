package evpn

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// TestStoreFootprint: 100,000 received MAC-only type-2 routes (the bench's
// type-2 row, a 1,000-node fleet's table) held in the store and the index
// take a bounded heap: the compact entries and claims (store.go,
// claims.go), not Routes with their strings and slices (~520 bytes a
// route before). The bound leaves room for map growth; the figure is logged.
func TestStoreFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("short: 100,000 routes")
	}
	const n = 100000
	vtep := netip.MustParseAddr("192.0.2.10")
	before := heapInUse()
	s := NewSource(Config{ASN: testASN, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
	for i := range n {
		// Each route with strings of its own, as Decode makes them: a
		// store that keeps them pays for them.
		s.ingest(rt2(vtep, overlay.MAC{2, 0xdd, 0, byte(i >> 16), byte(i >> 8), byte(i)}.String(), "", 0, 100))
	}
	s.idx.take()
	held := heapInUse() - before
	perRoute := held / n
	t.Logf("%d routes: %.1f MB held, %d bytes a route", n, float64(held)/1e6, perRoute)
	if perRoute > 250 {
		t.Errorf("%d bytes a route, want at most 250", perRoute)
	}
	runtime.KeepAlive(s)
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
