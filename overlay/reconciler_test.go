package overlay_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// newFake returns a fake kernel that fails the test if the reconciler ever
// breaks one of its invariants.
func newFake(t *testing.T, initial ...overlay.State) *overlaytest.Dataplane {
	t.Helper()
	dp := overlaytest.New()
	if len(initial) > 0 {
		dp = overlaytest.NewWith(initial[0])
	}
	t.Cleanup(func() {
		if v := dp.Violations(); len(v) > 0 {
			t.Errorf("fake kernel invariants broken:\n%s", strings.Join(v, "\n"))
		}
	})
	return dp
}

func text(s string) string { return strings.TrimSpace(s) }

// reconcilerSteps is the table of TestReconcilerStates: each desired state
// and the kernel it must produce, in iproute2 form.
var reconcilerSteps = []struct {
	name  string
	state overlay.State
	want  string
}{
	{"empty", overlay.NewState(), ""},
	{"one network", state(dev(100)), `
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100`},
	{"remote host with a pod", state(dev(100),
		flood(100, "10.0.0.2"), fdb(100, "02:00:00:00:02:01", "10.0.0.2"), neigh(100, "10.244.2.2", "02:00:00:00:02:01")), `
fdb 00:00:00:00:00:00 dev vxlan100 dst 10.0.0.2 self permanent
fdb 02:00:00:00:02:01 dev vxlan100 dst 10.0.0.2 self master extern_learn
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100
neigh 10.244.2.2 lladdr 02:00:00:00:02:01 dev vxbr100 nud noarp extern_learn`},
	{"pod moved to a third host", state(dev(100),
		flood(100, "10.0.0.2"), flood(100, "10.0.0.3"), fdb(100, "02:00:00:00:02:01", "10.0.0.3"), neigh(100, "10.244.2.2", "02:00:00:00:02:01")), `
fdb 00:00:00:00:00:00 dev vxlan100 dst 10.0.0.2 self permanent
fdb 00:00:00:00:00:00 dev vxlan100 dst 10.0.0.3 self permanent
fdb 02:00:00:00:02:01 dev vxlan100 dst 10.0.0.3 self master extern_learn
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100
neigh 10.244.2.2 lladdr 02:00:00:00:02:01 dev vxbr100 nud noarp extern_learn`},
	{"second network, first one emptied", state(dev(100), dev(200),
		flood(200, "10.0.0.3"), fdb(200, "02:00:00:00:03:01", "10.0.0.3"), neigh(200, "fd00::3:1", "02:00:00:00:03:01")), `
fdb 00:00:00:00:00:00 dev vxlan200 dst 10.0.0.3 self permanent
fdb 02:00:00:00:03:01 dev vxlan200 dst 10.0.0.3 self master extern_learn
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100
link vxbr200 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan200 type vxlan id 200 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr200
neigh fd00::3:1 lladdr 02:00:00:00:03:01 dev vxbr200 nud noarp extern_learn`},
	{"first network removed with its entries", state(dev(200), fdb(200, "02:00:00:00:03:01", "10.0.0.4")), `
fdb 02:00:00:00:03:01 dev vxlan200 dst 10.0.0.4 self master extern_learn
link vxbr200 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan200 type vxlan id 200 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr200`},
	{"routed network with a route per remote block", state(routedDev(100),
		route("10.244.2.0/24", "10.0.0.2"), route("10.244.3.0/24", "10.0.0.3")), `
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450 proxy_arp on
route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2
route 10.244.3.0/24 proto vxbgp nexthop via 10.0.0.3`},
	{"both modes side by side, a block over two paths", state(routedDev(100), dev(200),
		flood(200, "10.0.0.3"), fdb(200, "02:00:00:00:03:01", "10.0.0.3"),
		route("10.244.2.0/24", "10.0.0.4", "10.0.0.2"), route("fd00:3::/64", "fd99::3")), `
fdb 00:00:00:00:00:00 dev vxlan200 dst 10.0.0.3 self permanent
fdb 02:00:00:00:03:01 dev vxlan200 dst 10.0.0.3 self master extern_learn
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450 proxy_arp on
link vxbr200 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan200 type vxlan id 200 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr200
route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2 nexthop via 10.0.0.4
route fd00:3::/64 proto vxbgp nexthop via fd99::3`},
}

// TestReconcilerStates drives a reconciler through a table of desired
// states and compares the fake kernel with the expected iproute2 text, then
// replays the same states in random orders: a level-triggered reconciler
// reaches each state whatever came before it.
func TestReconcilerStates(t *testing.T) {
	run := func(t *testing.T, order []int) {
		t.Helper()
		dp := newFake(t)
		r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
		r.MarkSynced()
		for _, i := range order {
			step := reconcilerSteps[i]
			r.Set(step.state.Clone())
			if err := r.Sync(context.Background()); err != nil {
				t.Fatalf("%s: sync: %v", step.name, err)
			}
			if got, want := dp.State().String(), text(step.want); got != want {
				t.Fatalf("after %q (order %v):\n%s\nwant:\n%s", step.name, order, got, want)
			}
			if got := r.Current().String(); got != text(step.want) {
				t.Fatalf("after %q: Current() is\n%s\nwant:\n%s", step.name, got, text(step.want))
			}
		}
	}
	inOrder := make([]int, len(reconcilerSteps))
	for i := range inOrder {
		inOrder[i] = i
	}
	t.Run("in order", func(t *testing.T) { run(t, inOrder) })
	rng := rand.New(rand.NewPCG(7, 7))
	for range 20 {
		order := append([]int(nil), inOrder...)
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		order = append(order, order[:len(order)/2]...) // and revisit some
		t.Run(fmt.Sprint("order ", order), func(t *testing.T) { run(t, order) })
	}
}

// TestReconcilerDeletesOnlyAfterMarkSynced starts a reconciler on a kernel
// that holds a previous run's state, as after a restart.
func TestReconcilerDeletesOnlyAfterMarkSynced(t *testing.T) {
	old := state(dev(100), dev(200),
		flood(100, "10.0.0.2"), fdb(100, "02:00:00:00:02:01", "10.0.0.2"), fdb(100, "02:00:00:00:02:02", "10.0.0.2"),
		neigh(100, "10.244.2.2", "02:00:00:00:02:01"), fdb(200, "02:00:00:00:03:01", "10.0.0.3"))
	want := state(dev(100),
		flood(100, "10.0.0.3"), fdb(100, "02:00:00:00:02:01", "10.0.0.3"), neigh(100, "10.244.2.2", "02:00:00:00:02:01"))
	dp := newFake(t, old)
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.Set(want.Clone())
	for pass := range 3 { // however many passes run, nothing is deleted
		if err := r.Sync(context.Background()); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
	}
	for _, op := range dp.Ops() {
		if op.Kind == overlay.OpDel {
			t.Errorf("deleted before MarkSynced: %s", op)
		}
	}
	if got, want := dp.State().String(), text(`
fdb 00:00:00:00:00:00 dev vxlan100 dst 10.0.0.2 self permanent
fdb 00:00:00:00:00:00 dev vxlan100 dst 10.0.0.3 self permanent
fdb 02:00:00:00:02:01 dev vxlan100 dst 10.0.0.3 self master extern_learn
fdb 02:00:00:00:02:02 dev vxlan100 dst 10.0.0.2 self master extern_learn
fdb 02:00:00:00:03:01 dev vxlan200 dst 10.0.0.3 self master extern_learn
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100
link vxbr200 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan200 type vxlan id 200 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr200
neigh 10.244.2.2 lladdr 02:00:00:00:02:01 dev vxbr100 nud noarp extern_learn`); got != want {
		t.Fatalf("before MarkSynced:\n%s\nwant (old plus new, updates applied):\n%s", got, want)
	}
	if r.Stats().Synced {
		t.Error("Stats().Synced before MarkSynced")
	}

	r.MarkSynced()
	if err := r.Sync(context.Background()); err != nil {
		t.Fatalf("sync after MarkSynced: %v", err)
	}
	if got := dp.State().String(); got != want.String() {
		t.Fatalf("after MarkSynced:\n%s\nwant:\n%s", got, want)
	}
	if !r.Stats().Synced {
		t.Error("Stats().Synced false after MarkSynced")
	}
}

// TestReconcilerModeSwitch starts a reconciler on a kernel in one mode and
// hands it the other mode's state before MarkSynced, as a restart with the
// other mode does. Overlay to routed: the VXLAN device and its FDB and
// flood entries stay until MarkSynced (removing them is a delete), while
// the rest of the device (MTU, proxy ND) and the routes change at once.
// Routed to overlay: the VXLAN device and its entries are added at once,
// the routes go after MarkSynced. Every pass from a fresh reading of the
// kernel has nothing more to do, before and after MarkSynced.
func TestReconcilerModeSwitch(t *testing.T) {
	routed6 := routedDev(100)
	routed6.MTU = 1400
	routed6.Gateway6 = netip.MustParsePrefix("fd00:244::1/48")
	routed6.NDProxy = netip.MustParsePrefix("fd00:244:0:1::/64")
	remote := []any{flood(100, "10.0.0.2"), fdb(100, "02:00:00:00:02:01", "10.0.0.2"), neigh(100, "10.244.2.2", "02:00:00:00:02:01")}
	for _, tc := range []struct {
		name         string
		kernel, want overlay.State
		beforeSync   string
	}{
		{"overlay to routed", state(append(remote, dev(100), dev(200), fdb(200, "02:00:00:00:03:01", "10.0.0.3"))...),
			state(routed6, dev(200), fdb(200, "02:00:00:00:03:01", "10.0.0.3"), route("10.244.2.0/24", "10.0.0.2")), `
fdb 00:00:00:00:00:00 dev vxlan100 dst 10.0.0.2 self permanent
fdb 02:00:00:00:02:01 dev vxlan100 dst 10.0.0.2 self master extern_learn
fdb 02:00:00:00:03:01 dev vxlan200 dst 10.0.0.3 self master extern_learn
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 gateway6 fd00:244::1/48 mtu 1400 proxy_arp on proxy_nd fd00:244:0:1::/64; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1400 master vxbr100
link vxbr200 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan200 type vxlan id 200 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr200
neigh 10.244.2.2 lladdr 02:00:00:00:02:01 dev vxbr100 nud noarp extern_learn
route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2`},
		{"routed to overlay", state(routed6, route("10.244.2.0/24", "10.0.0.2")),
			state(append(remote, dev(100))...), `
fdb 00:00:00:00:00:00 dev vxlan100 dst 10.0.0.2 self permanent
fdb 02:00:00:00:02:01 dev vxlan100 dst 10.0.0.2 self master extern_learn
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100
neigh 10.244.2.2 lladdr 02:00:00:00:02:01 dev vxbr100 nud noarp extern_learn
route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp := newFake(t, tc.kernel)
			r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
			r.Set(tc.want.Clone())
			pass := func(step string) {
				t.Helper()
				for i := range 2 { // the second from a fresh reading
					if i == 1 {
						r.Kick()
						dp.Ops()
					}
					if err := r.Sync(context.Background()); err != nil {
						t.Fatalf("%s: %v", step, err)
					}
				}
				if ops := dp.Ops(); len(ops) != 0 {
					t.Errorf("%s: a pass from a fresh reading applies %d ops, first %s", step, len(ops), ops[0])
				}
			}
			pass("before MarkSynced")
			if got := dp.State().String(); got != text(tc.beforeSync) {
				t.Fatalf("before MarkSynced:\n%s\nwant:\n%s", got, text(tc.beforeSync))
			}
			if got := r.Desired(); !got.Equal(tc.want) {
				t.Errorf("Desired() is not the state handed over:\n%s", got)
			}
			r.MarkSynced()
			pass("after MarkSynced")
			if got := dp.State().String(); got != tc.want.String() {
				t.Fatalf("after MarkSynced:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestReconcilerRetriesFailures injects Apply failures and checks that the
// reconciler reports them, applies everything else, and converges once the
// failure clears.
func TestReconcilerRetriesFailures(t *testing.T) {
	want := state(dev(100), dev(200),
		fdb(100, "02:00:00:00:02:01", "10.0.0.2"), fdb(200, "02:00:00:00:03:01", "10.0.0.3"),
		flood(200, "10.0.0.3"), neigh(200, "10.244.3.1", "02:00:00:00:03:01"))
	for _, tc := range []struct {
		name string
		fail func(overlay.Op) bool
		// missing is what stays out of the kernel while the failure lasts.
		missing int
	}{
		{"one fdb entry", func(o overlay.Op) bool { return o.FDB != nil && o.FDB.VNI == 100 }, 1},
		// A device that cannot be created takes its entries down with it:
		// the fake, like the kernel, refuses entries without their device.
		{"a device", func(o overlay.Op) bool { return o.Device != nil && o.Device.VNI == 200 }, 4},
		{"every op", func(overlay.Op) bool { return true }, want.Len()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp := newFake(t)
			dp.FailOn(tc.fail)
			r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
			r.Set(want.Clone())
			r.MarkSynced()
			for pass := range 3 {
				err := r.Sync(context.Background())
				if !errors.Is(err, overlaytest.ErrInjected) {
					t.Fatalf("pass %d: err = %v, want the injected failure", pass, err)
				}
			}
			if got := want.Len() - dp.State().Len(); got != tc.missing {
				t.Errorf("%d objects missing while failing, want %d:\n%s", got, tc.missing, dp.State())
			}
			st := r.Stats()
			if st.OpErrors == 0 || !strings.Contains(st.LastError, overlaytest.ErrInjected.Error()) {
				t.Errorf("stats do not show the failure: %+v", st)
			}
			dp.FailOn(nil)
			if err := r.Sync(context.Background()); err != nil {
				t.Fatalf("sync after the failure cleared: %v", err)
			}
			if got := dp.State().String(); got != want.String() {
				t.Fatalf("not converged:\n%s\nwant:\n%s", got, want)
			}
			if st := r.Stats(); st.LastError != "" {
				t.Errorf("LastError still %q", st.LastError)
			}
		})
	}
}

// TestReconcilerKickRereadsKernel changes the fake kernel behind the
// reconciler's back: a pass from its cache does not see it, a pass after
// Kick (what netlinkdp.Watch calls) repairs it.
func TestReconcilerKickRereadsKernel(t *testing.T) {
	want := state(dev(100), fdb(100, "02:00:00:00:02:01", "10.0.0.2"), flood(100, "10.0.0.2"))
	dp := newFake(t)
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.Set(want.Clone())
	r.MarkSynced()
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	dp.Mutate(func(s *overlay.State) {
		clear(s.FDB)
		s.AddFlood(flood(100, "10.0.0.9")) // a stray entry on our device
	})
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dp.State().Equal(want) {
		t.Fatal("a pass without Kick re-read the kernel; this test cannot tell Kick's effect")
	}
	r.Kick()
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := dp.State().String(); got != want.String() {
		t.Fatalf("after Kick:\n%s\nwant:\n%s", got, want)
	}
}

// TestReconcilerRun checks the Run loop: it reacts to Set, MarkSynced and
// to a failure clearing (retrying with backoff), without any resync, and
// stops when its context ends.
func TestReconcilerRun(t *testing.T) {
	dp := newFake(t)
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	s1 := state(dev(100), fdb(100, "02:00:00:00:02:01", "10.0.0.2"))
	r.Set(s1.Clone())
	waitFor(t, "the first state", func() bool { return dp.State().Equal(s1) })

	// Deletes wait for MarkSynced, and MarkSynced alone wakes the loop.
	s2 := state(dev(100), fdb(100, "02:00:00:00:02:02", "10.0.0.2"))
	r.Set(s2.Clone())
	merged := s1.Clone()
	merged.AddFDB(fdb(100, "02:00:00:00:02:02", "10.0.0.2"))
	waitFor(t, "the second state's additions", func() bool { return dp.State().Equal(merged) })
	r.MarkSynced()
	waitFor(t, "the deletes after MarkSynced", func() bool { return dp.State().Equal(s2) })

	// A failing op is retried by the loop itself until it succeeds.
	dp.FailOn(func(o overlay.Op) bool { return o.Flood != nil })
	s3 := state(dev(100), fdb(100, "02:00:00:00:02:02", "10.0.0.2"), flood(100, "10.0.0.2"))
	r.Set(s3.Clone())
	waitFor(t, "the failure to be seen", func() bool { return r.Stats().OpErrors > 0 })
	dp.FailOn(nil)
	waitFor(t, "the retry to converge", func() bool { return dp.State().Equal(s3) })
	waitFor(t, "the error to clear", func() bool { return r.Stats().LastError == "" })
}

// waitFor polls cond until it holds, or fails the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-poll.C:
		}
	}
}
