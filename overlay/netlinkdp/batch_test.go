package netlinkdp_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// ApplyBatch leaves the kernel as Apply of each op would: 1,000 FDB
// entries and 300 neighbours set in batches with a flood entry (applied
// one by one) among them, then moved, deleted (also what is gone
// already), read back by Observe each time; an entry whose device went
// behind our back (the link cache is stale) fails with ErrNoDevice,
// without failing the others of its batch.
func TestApplyBatch(t *testing.T) {
	ctx := context.Background()
	dp, ns, base := newTwoNetworks(t)
	vtep := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 99, 0, byte(2 + i%3)}) }
	mac := func(i int) overlay.MAC { return overlay.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)} }
	want := base.Clone()
	for i := range 1000 {
		want.AddFDB(overlay.FDB{VNI: 100 + 100*uint32(i%2), MAC: mac(i), VTEP: vtep(i)})
		if i < 300 {
			want.AddNeigh(overlay.Neigh{VNI: 100, IP: netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}), MAC: mac(i)})
		}
	}
	want.AddFlood(overlay.Flood{VNI: 100, VTEP: vtep(0)})
	batch := func(what string, cur, want overlay.State) {
		t.Helper()
		ops := overlay.Diff(cur, want)
		for i, err := range dp.ApplyBatch(ctx, ops) {
			if err != nil {
				t.Fatalf("%s: %s: %v", what, ops[i], err)
			}
		}
		if got := observe(t, dp); !got.Equal(want) {
			t.Fatalf("%s: kernel holds %d fdb, %d neigh, %d flood; want %d, %d, %d", what,
				len(got.FDB), len(got.Neigh), len(got.Flood), len(want.FDB), len(want.Neigh), len(want.Flood))
		}
	}
	batch("add", base, want)

	moved := want.Clone()
	for i := range 1000 {
		k := overlay.FDBKey{VNI: 100 + 100*uint32(i%2), MAC: mac(i)}
		switch i % 4 {
		case 0:
			moved.AddFDB(overlay.FDB{VNI: k.VNI, MAC: k.MAC, VTEP: vtep(i + 1)})
		case 1:
			delete(moved.FDB, k)
		}
	}
	for k := range moved.Neigh {
		if k.IP.As4()[3]%2 == 0 {
			delete(moved.Neigh, k)
		}
	}
	batch("move and delete", want, moved)
	// Deleting again what is gone succeeds.
	var again []overlay.Op
	for _, op := range overlay.Diff(want, moved) {
		if op.Kind == overlay.OpDel {
			again = append(again, op)
		}
	}
	for i, err := range dp.ApplyBatch(ctx, again) {
		if err != nil {
			t.Fatalf("delete again: %s: %v", again[i], err)
		}
	}
	batch("delete all", moved, base)

	// vxlan200 goes behind our back; the cache still has its index.
	nstest.IP(t, ns, "link", "del", "vxlan200")
	ops := []overlay.Op{
		{Kind: overlay.OpSet, FDB: &overlay.FDB{VNI: 200, MAC: mac(1), VTEP: vtep(1)}},
		{Kind: overlay.OpSet, FDB: &overlay.FDB{VNI: 100, MAC: mac(2), VTEP: vtep(2)}},
	}
	errs := dp.ApplyBatch(ctx, ops)
	if !errors.Is(errs[0], netlinkdp.ErrNoDevice) || errs[1] != nil {
		t.Fatalf("errors %v, want [%v nil]", errs, netlinkdp.ErrNoDevice)
	}
	if got := observe(t, dp); len(got.FDB) != 1 {
		t.Fatalf("kernel holds %d fdb entries, want 1", len(got.FDB))
	}
}

// TestApplyBatchTiming logs what batching saves: 5,000 FDB entries set
// and deleted through Apply one by one, then through ApplyBatch.
func TestApplyBatchTiming(t *testing.T) {
	ctx := context.Background()
	dp, _, _ := newDP(t)
	base := overlay.NewState()
	base.AddDevice(overlaytest.ContractDevice(100))
	applyState(t, dp, base)
	full := base.Clone()
	for i := range 5000 {
		full.AddFDB(overlay.FDB{VNI: 100, MAC: overlay.MAC{2, 0, 0, 1, byte(i >> 8), byte(i)}, VTEP: netip.MustParseAddr("10.99.0.2")})
	}
	for _, batched := range []bool{false, true} {
		for _, step := range [][2]overlay.State{{base, full}, {full, base}} {
			ops := overlay.Diff(step[0], step[1])
			start := time.Now()
			if batched {
				for i, err := range dp.ApplyBatch(ctx, ops) {
					if err != nil {
						t.Fatalf("%s: %v", ops[i], err)
					}
				}
			} else {
				for _, op := range ops {
					if err := dp.Apply(ctx, op); err != nil {
						t.Fatalf("%s: %v", op, err)
					}
				}
			}
			t.Logf("TIMING %d ops (%s) batched=%v: %v", len(ops), ops[0].Kind, batched, time.Since(start))
		}
	}
	if got := observe(t, dp); !got.Equal(base) {
		t.Fatalf("kernel holds %d fdb entries at the end", len(got.FDB))
	}
}

// Only the last message of a batch asks for an ACK; the others are heard
// of only if they fail. Failures first, in the middle and last in their
// batch (128 messages) are each reported on their own op, and the ops
// around them take effect.
func TestApplyBatchErrorsInBatch(t *testing.T) {
	ctx := context.Background()
	dp, ns, _ := newTwoNetworks(t)
	// vxlan200 goes behind our back; the cache still has its index.
	nstest.IP(t, ns, "link", "del", "vxlan200")
	failing := func(i int) bool { return i%5 == 0 || i == 127 || i == 128 || i == 299 }
	var ops []overlay.Op
	ok := 0
	for i := range 300 {
		vni := uint32(100)
		if failing(i) {
			vni = 200
		} else {
			ok++
		}
		ops = append(ops, overlay.Op{Kind: overlay.OpSet, FDB: &overlay.FDB{VNI: vni,
			MAC: overlay.MAC{2, 0, 0, 2, byte(i >> 8), byte(i)}, VTEP: netip.MustParseAddr("10.99.0.2")}})
	}
	for i, err := range dp.ApplyBatch(ctx, ops) {
		if failing(i) != errors.Is(err, netlinkdp.ErrNoDevice) || (!failing(i) && err != nil) {
			t.Errorf("op %d (%s): %v", i, ops[i], err)
		}
	}
	if got := observe(t, dp); len(got.FDB) != ok {
		t.Fatalf("kernel holds %d fdb entries, want %d", len(got.FDB), ok)
	}
}

// newTwoNetworks returns a dataplane with networks 100 and 200 applied,
// its namespace, and that state.
func newTwoNetworks(t *testing.T) (*netlinkdp.Dataplane, string, overlay.State) {
	t.Helper()
	dp, _, ns := newDP(t)
	base := overlay.NewState()
	base.AddDevice(overlaytest.ContractDevice(100))
	base.AddDevice(overlaytest.ContractDevice(200))
	applyState(t, dp, base)
	return dp, ns, base
}
