package netlinkdp_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// The neighbour subscription delivers every event of a burst (more than
// one read's worth of datagrams): no RTM_NEWNEIGH of an FDB entry set as
// we set it, of either half (the socket filter, neighFilter); deletes of
// both halves come through.
func TestSubscribeNeighBurst(t *testing.T) {
	ctx := context.Background()
	dp, _, _ := newDP(t)
	base := overlay.NewState()
	base.AddDevice(overlaytest.ContractDevice(100))
	applyState(t, dp, base)
	ch := make(chan netlink.NeighUpdate, 16)
	done := make(chan struct{})
	errc := make(chan error, 1)
	if err := netlinkdp.SubscribeNeigh(dp, ch, done, func(err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(done)
		for range ch {
		}
	})
	const n = 1000
	full := base.Clone()
	for i := range n {
		full.AddFDB(overlay.FDB{VNI: 100, MAC: overlay.MAC{2, 0, 0, 3, byte(i >> 8), byte(i)}, VTEP: netip.MustParseAddr("10.99.0.2")})
	}
	count := func(what string, from, to overlay.State, typ uint16, want map[bool]int) {
		t.Helper()
		for i, err := range dp.ApplyBatch(ctx, overlay.Diff(from, to)) {
			if err != nil {
				t.Fatalf("%s: op %d: %v", what, i, err)
			}
		}
		got := map[bool]int{} // by NTF_SELF
		deadline := time.After(5 * time.Second)
		for got[true] < want[true] || got[false] < want[false] {
			select {
			case u := <-ch:
				if u.Family == unix.AF_BRIDGE && u.Type == typ && len(u.HardwareAddr) == 6 && u.HardwareAddr[3] == 3 {
					got[u.Flags&netlink.NTF_SELF != 0]++
				}
			case err := <-errc:
				t.Fatalf("%s: subscription: %v", what, err)
			case <-deadline:
				t.Fatalf("%s: events (by NTF_SELF) %v, want %v", what, got, want)
			}
		}
		time.Sleep(100 * time.Millisecond)
		for len(ch) > 0 {
			if u := <-ch; u.Family == unix.AF_BRIDGE && u.Type == typ && len(u.HardwareAddr) == 6 && u.HardwareAddr[3] == 3 {
				got[u.Flags&netlink.NTF_SELF != 0]++
			}
		}
		if got[true] != want[true] || got[false] != want[false] {
			t.Fatalf("%s: events (by NTF_SELF) %v, want %v", what, got, want)
		}
	}
	count("set", base, full, unix.RTM_NEWNEIGH, map[bool]int{})
	count("delete", full, base, unix.RTM_DELNEIGH, map[bool]int{true: n, false: n})
}
