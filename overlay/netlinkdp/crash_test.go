package netlinkdp_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestKilledAfterLinkAdd: the kernel ignores the alias (IFLA_IFALIAS) of
// RTM_NEWLINK, so every link we create exists for a moment without the
// alias that marks it ours. An agent SIGKILLed in that moment leaves it;
// the next agent must finish it, not refuse it as a foreign link
// (ErrNotManaged) for ever. Each of the two links is tried: the bridge
// (a fresh host) and the vxlan device (also a switch to overlay mode).
func TestKilledAfterLinkAdd(t *testing.T) {
	for _, name := range []string{overlay.BridgeName(100), overlay.VXLANName(100)} {
		t.Run(name, func(t *testing.T) {
			dp, ns, nsName := newDP(t)
			dev := overlaytest.ContractDevice(100)
			want := overlay.NewState()
			want.AddDevice(dev)
			netlinkdp.KillAfterLinkAdd(dp, name)
			if err := dp.Apply(context.Background(), overlay.Op{Kind: overlay.OpSet, Device: &dev}); !errors.Is(err, netlinkdp.ErrKilled) {
				t.Fatalf("apply with a kill after creating %s: err = %v, want the kill", name, err)
			}
			if out := nstest.IP(t, nsName, "-d", "link", "show", name); strings.Contains(out, "alias") {
				t.Fatalf("%s has an alias right after its creation: the test no longer leaves what a kill at that instant leaves:\n%s", name, out)
			}

			// The next agent: a new Dataplane, one reconcile pass.
			next, err := netlinkdp.NewAt(ns, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			r := overlay.NewReconciler(next, overlay.ReconcilerOptions{})
			r.Set(want)
			if err := r.Sync(context.Background()); err != nil {
				t.Fatalf("next agent's pass over what the killed one left: %v", err)
			}
			if got := observe(t, next); got.String() != want.String() {
				t.Fatalf("after the next agent's pass\n--- got:\n%s\n--- want:\n%s", got, want)
			}
			out := nstest.IP(t, nsName, "-d", "link", "show", name)
			wantWords(t, "ip -d link show "+name, out, "alias vxbgp:"+dev.Network, "group default")
		})
	}
}
