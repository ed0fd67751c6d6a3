package netlinkdp_test

import (
	"log/slog"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestContract runs the Dataplane contract against the kernel, each
// scenario in a fresh namespace.
func TestContract(t *testing.T) {
	overlaytest.Contract(t, func(t *testing.T) overlay.Dataplane {
		dp, _, _ := newDP(t)
		return dp
	})
}

// newDP returns a Dataplane in a fresh namespace that holds the contract's
// underlay: a veth pair (the kernel here has no dummy devices) carrying the
// VTEP address and an IPv6 address.
func newDP(t *testing.T) (*netlinkdp.Dataplane, netns.NsHandle, string) {
	t.Helper()
	ns, name := nstest.New(t, "vxdp")
	nstest.IP(t, name, "link", "add", overlaytest.ContractUnderlay, "type", "veth", "peer", "name", overlaytest.ContractUnderlay+"p")
	nstest.IP(t, name, "addr", "add", overlaytest.ContractVTEP.String()+"/24", "dev", overlaytest.ContractUnderlay)
	// nodad: the address is usable at once, so routes via fd99::/64 are.
	nstest.IP(t, name, "addr", "add", overlaytest.ContractVTEP6.String()+"/64", "dev", overlaytest.ContractUnderlay, "nodad")
	nstest.IP(t, name, "link", "set", overlaytest.ContractUnderlay, "up")
	nstest.IP(t, name, "link", "set", overlaytest.ContractUnderlay+"p", "up")
	dp, err := netlinkdp.NewAt(ns, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("new dataplane: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	return dp, ns, name
}

// testWriter sends log lines to t.Log, so they show with failures only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
