package netlinkdp_test

import (
	"context"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// healState is kernelState with a route of ours and the NAT table: one of
// every kind of object Watch follows.
func healState() overlay.State {
	s := kernelState()
	s.AddRoute(route("10.100.9.0/24", "10.99.0.2"))
	s.NAT = overlaytest.ContractNAT()
	return s
}

// sh runs a command in ns (iproute2 via nstest.IP, others via ip netns exec).
func sh(t *testing.T, ns string, args ...string) {
	t.Helper()
	if args[0] == "ip" {
		nstest.IP(t, ns, args[1:]...)
		return
	}
	if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// TestWatchKicksOnEntries: Watch kicks when someone deletes one of our
// entries, routes, gateway address or NAT table, and not for other
// objects of the same kinds nor for the echo of our own Apply.
func TestWatchKicksOnEntries(t *testing.T) {
	dp, _, ns := newDP(t)
	nstest.RequireTool(t, "nft")
	applyState(t, dp, healState())
	kicks, quiet := watchKicks(t, dp)
	ctx := context.Background()
	gw := healState().Devices[100].Gateway
	expectKicks(t, ns, kicks, quiet, []kickCase{
		{"remote MAC", []string{"bridge", "fdb", "del", "02:00:00:00:02:01", "dev", "vxlan100", "self"}, true},
		{"remote MAC, the bridge's half", []string{"bridge", "fdb", "del", "02:00:00:00:02:01", "dev", "vxlan100", "master"}, true},
		{"remote MAC added by someone else", []string{"bridge", "fdb", "add", "02:00:00:00:09:01", "dev", "vxlan100", "dst", "10.99.0.9", "self", "extern_learn"}, true},
		// Written exactly as we write ours (dynamic: NUD_REACHABLE), it waits
		// for the periodic resync: the socket filter drops such events,
		// our own echoes (neighFilter).
		{"remote MAC added by someone else as we add ours", []string{"bridge", "fdb", "add", "02:00:00:00:09:02", "dev", "vxlan100", "dst", "10.99.0.9", "self", "extern_learn", "dynamic"}, false},
		{"flood entry", []string{"bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan100", "dst", "10.99.0.2", "self"}, true},
		{"neighbour", []string{"ip", "neigh", "del", "10.100.2.2", "dev", "vxbr100"}, true},
		{"route", []string{"ip", "route", "del", "10.100.9.0/24", "proto", "201", "metric", "20"}, true},
		{"gateway address", []string{"ip", "addr", "del", gw.String(), "dev", "vxbr100"}, true},
		{"nft table", []string{"nft", "delete", "table", "inet", "vxbgp"}, true},
		{"underlay neighbour", []string{"ip", "neigh", "add", "10.99.0.7", "lladdr", "02:00:00:00:07:07", "dev", overlaytest.ContractUnderlay}, false},
		{"static neighbour on our bridge", []string{"ip", "neigh", "add", "10.100.2.9", "lladdr", "02:00:00:00:09:09", "dev", "vxbr100", "nud", "permanent"}, false},
		{"static fdb entry", []string{"bridge", "fdb", "add", "02:00:00:00:09:09", "dev", "vxlan100", "dst", "10.99.0.9", "self", "permanent"}, false},
		{"foreign route", []string{"ip", "route", "add", "10.70.0.0/24", "via", "10.99.0.2", "proto", "12"}, false},
		{"our protocol, other table", []string{"ip", "route", "add", "10.71.0.0/24", "via", "10.99.0.2", "proto", "201", "metric", "20", "table", "100"}, false},
		{"underlay address", []string{"ip", "addr", "add", "10.98.0.1/24", "dev", overlaytest.ContractUnderlay}, false},
		{"underlay address deleted", []string{"ip", "addr", "del", "10.98.0.1/24", "dev", overlaytest.ContractUnderlay}, false},
		{"other nft table", []string{"nft", "add", "table", "inet", "vxtest"}, false},
	})
	// The echo of our own Apply does not kick.
	applyState(t, dp, healState()) // put back what the cases deleted
	quiet(300 * time.Millisecond)
	s := healState()
	fdb, ok := s.FDB[overlay.FDBKey{VNI: 100, MAC: overlay.MAC{2, 0, 0, 0, 2, 1}}]
	if !ok {
		t.Fatal("healState has no FDB entry 02:00:00:00:02:01 in VNI 100")
	}
	for _, op := range []overlay.Op{
		{Kind: overlay.OpDel, FDB: ptr(fdb)},
		{Kind: overlay.OpSet, FDB: ptr(fdb)},
		{Kind: overlay.OpDel, Neigh: ptr(s.Neigh[overlay.NeighKey{VNI: 100, IP: netip.MustParseAddr("10.100.2.2")}])},
		{Kind: overlay.OpDel, Route: ptr(route("10.100.9.0/24", "10.99.0.2"))},
		{Kind: overlay.OpSet, Route: ptr(route("10.100.9.0/24", "10.99.0.2"))},
	} {
		if err := dp.Apply(ctx, op); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if n := quiet(300 * time.Millisecond); n > 0 {
			t.Errorf("our own %s: %d kicks, want none", op, n)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// kickCase is a command run in the Dataplane's namespace and whether
// Watch must kick for it.
type kickCase struct {
	name string
	cmd  []string
	kick bool
}

// expectKicks runs each case and checks that Watch kicked within a second,
// or not at all, logging how fast it did.
func expectKicks(t *testing.T, ns string, kicks chan struct{}, quiet func(time.Duration) int, cases []kickCase) {
	t.Helper()
	for _, c := range cases {
		start := time.Now() // the command included: its event may come before it returns
		sh(t, ns, c.cmd...)
		if c.kick {
			select {
			case <-kicks:
				t.Logf("TIMING watch kick %s: %v", c.name, time.Since(start).Round(time.Microsecond))
			case <-time.After(time.Second):
				t.Errorf("%s: no kick within 1s", c.name)
			}
			quiet(200 * time.Millisecond)
		} else if n := quiet(300 * time.Millisecond); n > 0 {
			t.Errorf("%s: %d kicks, want none", c.name, n)
		}
	}
}

// watchKicks runs dp.Watch until the test ends and returns its kicks, and
// quiet, which drains them until none came for d and says how many did.
// It returns once Watch has kicked for its subscription.
func watchKicks(t *testing.T, dp *netlinkdp.Dataplane) (chan struct{}, func(d time.Duration) int) {
	t.Helper()
	kicks := make(chan struct{}, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dp.Watch(ctx, func() { kicks <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	quiet := func(d time.Duration) int {
		n := 0
		for {
			select {
			case <-kicks:
				n++
			case <-time.After(d):
				return n
			}
		}
	}
	if quiet(500*time.Millisecond) == 0 {
		t.Fatal("Watch did not kick once subscribed")
	}
	return kicks, quiet
}

// TestWatchRepairsEntries runs the reconciler with Watch as its kick
// source (and a resync too long to matter) and deletes one of each kind of
// entry behind its back: each is back, and how fast is logged.
func TestWatchRepairsEntries(t *testing.T) {
	dp, h, ns := newDP(t)
	nstest.RequireTool(t, "nft")
	// The test reads the kernel through a Dataplane of its own: one
	// Dataplane's Observe is not for concurrent use (its nftables
	// connection), and the reconciler's runs meanwhile.
	view, err := netlinkdp.NewAt(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { view.Close() })
	r := runWithWatch(t, dp)
	want := healState()
	r.Set(want.Clone())
	r.MarkSynced()
	waitObserved(t, view, want)
	gw := want.Devices[100].Gateway
	for _, c := range []struct {
		name string
		cmd  []string
	}{
		{"remote MAC", []string{"bridge", "fdb", "del", "02:00:00:00:02:01", "dev", "vxlan100", "self"}},
		{"flood entry", []string{"bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan100", "dst", "10.99.0.2", "self"}},
		{"neighbour", []string{"ip", "neigh", "del", "10.100.2.2", "dev", "vxbr100"}},
		{"route", []string{"ip", "route", "del", "10.100.9.0/24", "proto", "201", "metric", "20"}},
		{"gateway address", []string{"ip", "addr", "del", gw.String(), "dev", "vxbr100"}},
		{"nft table", []string{"nft", "delete", "table", "inet", "vxbgp"}},
	} {
		start := time.Now() // the command included: its event may come before it returns
		sh(t, ns, c.cmd...)
		waitObserved(t, view, want)
		t.Logf("TIMING repaired %s: %v", c.name, time.Since(start).Round(time.Millisecond))
	}
	if got := r.Stats().Repairs; len(got) == 0 {
		t.Errorf("no repair counted")
	} else {
		t.Logf("repairs: %v", got)
	}
}
