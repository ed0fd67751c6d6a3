package overlaytest

import (
	"context"
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// ContractNAT is the contract's pod egress: network net100 (10.100.0.0/16,
// dual-stack with fd00:100::/48) is NATed, net101 (10.101.0.0/16) is not
// but is exempt as a destination; so is a third pool.
func ContractNAT() overlay.NAT {
	pools4 := []netip.Prefix{netip.MustParsePrefix("10.100.0.0/16"), netip.MustParsePrefix("10.101.0.0/16"), netip.MustParsePrefix("10.96.0.0/12")}
	return overlay.NewNAT(
		overlay.Masquerade{Network: "net100", Src: netip.MustParsePrefix("10.100.0.0/16"), Except: pools4},
		overlay.Masquerade{Network: "net100", Src: netip.MustParsePrefix("fd00:100::/48"), Except: []netip.Prefix{netip.MustParsePrefix("fd00:100::/48")}},
	)
}

// contractNAT: the NAT table is set whole, read back, replaced, deleted;
// every op is idempotent, and it needs no device.
func contractNAT(t *testing.T, dp overlay.Dataplane) {
	n := ContractNAT()
	s := overlay.NewState()
	s.NAT = n
	applyAll(t, dp, []overlay.Op{set(n), set(n)})
	wantObserved(t, dp, s, "nat set twice")

	smaller := overlay.NewNAT(n.Rules[1])
	s.NAT = smaller
	applyAll(t, dp, []overlay.Op{set(smaller)})
	wantObserved(t, dp, s, "nat replaced")

	applyAll(t, dp, []overlay.Op{del(smaller), del(smaller)})
	wantObserved(t, dp, overlay.NewState(), "nat deleted twice")

	bad := overlay.NAT{Rules: []overlay.Masquerade{{Network: "x", Src: netip.MustParsePrefix("10.0.0.0/8"), Except: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}}}
	if err := dp.Apply(context.Background(), set(bad)); err == nil {
		t.Fatal("a NAT rule excepting another family was accepted")
	}
	wantObserved(t, dp, overlay.NewState(), "after a refused nat")
}

// contractNATReconciler: the reconciler programs the NAT table with the
// rest of the state, keeps it across a restart before MarkSynced, and
// removes it when no longer wanted only after MarkSynced.
func contractNATReconciler(t *testing.T, dp overlay.Dataplane) {
	ctx := context.Background()
	want := contractState()
	want.NAT = ContractNAT()
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.Set(want.Clone())
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	wantObserved(t, dp, want, "state with nat")

	// A restarted agent that wants no NAT any more keeps the table until
	// its sources are synced (the rule for every delete).
	r = overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	noNAT := contractState()
	r.Set(noNAT.Clone())
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync without nat: %v", err)
	}
	wantObserved(t, dp, want, "nat unwanted, before MarkSynced")
	r.MarkSynced()
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync after MarkSynced: %v", err)
	}
	wantObserved(t, dp, noNAT, "nat unwanted, after MarkSynced")

	// Wanted again: set at once, and a pass from a fresh reading has
	// nothing more to do.
	r.Set(want.Clone())
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync with nat again: %v", err)
	}
	r.Kick()
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if ops := overlay.Diff(r.Current(), want); len(ops) != 0 {
		t.Fatalf("after a second pass still %d ops, first %s", len(ops), ops[0])
	}
	wantObserved(t, dp, want, "nat wanted again")
}
