package agent

import (
	"context"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestScaleType2 is the bench's type-2 row without GoBGP and the kernel:
// n MAC-only type-2 paths from one peer (VXBGP_SCALE_N, default 5,000;
// 0 skips it) handed to the agent's watch handler as fast as it takes
// them, timed until the fake kernel holds them all, then withdrawn and
// timed until it holds none. What it measures is the agent's own path
// from a received path to a kernel op: decode, store, desired state,
// reconciler. Profile it with -cpuprofile.
func TestScaleType2(t *testing.T) {
	n := 5000
	if v := os.Getenv("VXBGP_SCALE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 || testing.Short() {
		t.Skip("VXBGP_SCALE_N=0 or -short")
	}
	paths := make([]*api.Path, n)
	rid, vtep := netip.MustParseAddr(peerAddr), netip.MustParseAddr(peerVTEP)
	for i := range paths {
		mac := overlay.MAC{0x02, 0xe0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		p, err := evpn.Type2(64512, rid, 1, 100, vtep, mac, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		p.NeighborIp = peerAddr
		paths[i] = p
	}
	dp := overlaytest.New()
	r := startAgent(t, testConfig(t, t.TempDir(), config.ModeOverlay), dp)
	r.sp.PeerUp(peerAddr)
	for _, f := range []string{bgp.FamilyEVPN, bgp.FamilyIPv4, bgp.FamilyIPv6} {
		r.sp.EOR(f, peerAddr)
	}
	bgptest.WaitFor(t, "synced", 10*time.Second, func() bool {
		st, err := r.api.Status(context.Background())
		return err == nil && st.Synced
	})
	fdbCount := func() int {
		st, err := r.api.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.FDBEntries
	}
	wait := func(what string, want int) time.Duration {
		start := time.Now()
		deadline := start.Add(5 * time.Minute)
		for fdbCount() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d fdb entries, want %d", what, fdbCount(), want)
			}
			time.Sleep(time.Millisecond)
		}
		return time.Since(start)
	}
	start := time.Now()
	for _, p := range paths {
		r.sp.Deliver(p)
	}
	handed := time.Since(start)
	wait("announce", n)
	t.Logf("TIMING announce n=%d: handed over in %v, all in the kernel after %v", n, handed, time.Since(start))
	start = time.Now()
	for _, p := range paths {
		p.IsWithdraw = true
		r.sp.Deliver(p)
	}
	handed = time.Since(start)
	wait("withdraw", 0)
	t.Logf("TIMING withdraw n=%d: handed over in %v, all gone from the kernel after %v", n, handed, time.Since(start))
}
