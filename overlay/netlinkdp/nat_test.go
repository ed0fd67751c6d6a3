package netlinkdp_test

import (
	"context"
	"os/exec"
	"testing"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestNATRepaired: the reconciler puts the NAT table back after someone
// deletes or empties it, on the next pass that re-reads the kernel (a
// resync, or a Kick).
func TestNATRepaired(t *testing.T) {
	dp, _, ns := newDP(t)
	nstest.RequireTool(t, "nft")
	ctx := context.Background()
	want := overlay.NewState()
	want.NAT = overlaytest.ContractNAT()
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.MarkSynced()
	r.Set(want)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"delete table inet vxbgp", "flush chain inet vxbgp postrouting"} {
		if out, err := exec.Command("ip", "netns", "exec", ns, "nft", cmd).CombinedOutput(); err != nil {
			t.Fatalf("nft %s: %v\n%s", cmd, err, out)
		}
		r.Kick()
		if err := r.Sync(ctx); err != nil {
			t.Fatalf("after %q: sync: %v", cmd, err)
		}
		got, err := dp.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !got.NAT.Equal(want.NAT) {
			t.Fatalf("after %q and a pass: nat %v, want %v", cmd, got.NAT, want.NAT)
		}
	}
	// Closing the data plane (the agent stopping) leaves the table.
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	if out := nstest.Run(t, "ip", "netns", "exec", ns, "nft", "list", "table", "inet", "vxbgp"); len(out) == 0 {
		t.Fatal("table gone after Close")
	}
}
