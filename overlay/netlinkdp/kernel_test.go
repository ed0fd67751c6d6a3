package netlinkdp_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// kernelState is one network with a remote MAC+IP, a flood entry, and a
// second network, as the control plane would hand it over.
func kernelState() overlay.State {
	s := overlay.NewState()
	s.AddDevice(overlaytest.ContractDevice(100))
	s.AddDevice(overlaytest.ContractDevice(200))
	s.AddFDB(overlay.FDB{VNI: 100, MAC: overlay.MustParseMAC("02:00:00:00:02:01"), VTEP: netip.MustParseAddr("10.99.0.2")})
	s.AddFlood(overlay.Flood{VNI: 100, VTEP: netip.MustParseAddr("10.99.0.2")})
	s.AddNeigh(overlay.Neigh{VNI: 100, IP: netip.MustParseAddr("10.100.2.2"), MAC: overlay.MustParseMAC("02:00:00:00:02:01")})
	return s
}

func applyState(t *testing.T, dp overlay.Dataplane, s overlay.State) {
	t.Helper()
	for _, op := range overlay.Diff(overlay.NewState(), s) {
		if err := dp.Apply(context.Background(), op); err != nil {
			t.Fatalf("apply %s: %v", op, err)
		}
	}
}

func observe(t *testing.T, dp overlay.Dataplane) overlay.State {
	t.Helper()
	s, err := dp.Observe(context.Background())
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return s
}

// wantLines fails the test unless every line of want (whitespace-trimmed)
// is one of out's lines.
func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		have[strings.TrimSpace(l)] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("%s: missing line %q in:\n%s", what, w, out)
		}
	}
}

// wantWords fails the test unless out contains every phrase.
func wantWords(t *testing.T, what, out string, phrases ...string) {
	t.Helper()
	for _, p := range phrases {
		if !strings.Contains(out, p) {
			t.Errorf("%s: missing %q in:\n%s", what, p, out)
		}
	}
}

// TestKernelObjects proves with iproute2 that the kernel holds exactly
// what the lab prototype and FRR's zebra program.
func TestKernelObjects(t *testing.T) {
	dp, _, ns := newDP(t)
	applyState(t, dp, kernelState())

	wantLines(t, "bridge fdb show", nstest.Run(t, "bridge", "-n", ns, "fdb", "show", "dev", "vxlan100"),
		"02:00:00:00:02:01 dst 10.99.0.2 self extern_learn",
		"02:00:00:00:02:01 extern_learn master vxbr100",
		"00:00:00:00:00:00 dst 10.99.0.2 self permanent",
	)
	wantLines(t, "ip neigh show", nstest.IP(t, ns, "neigh", "show", "dev", "vxbr100"),
		"10.100.2.2 lladdr 02:00:00:00:02:01 extern_learn NOARP",
	)
	for _, tc := range []struct {
		dev  string
		want []string
	}{
		{"vxlan100", []string{
			"mtu 1450 ", "master vxbr100 ", ",UP,",
			"vxlan id 100 local 10.99.0.1 dev vxul0 srcport 0 0 dstport 4789 nolearning ",
			"bridge_slave ", " learning off ", " neigh_suppress on ",
			"alias vxbgp:net100",
		}},
		{"vxbr100", []string{
			"mtu 1450 ", ",UP,", "link/ether 02:76:78:62:67:01 ", "\n    bridge ", "alias vxbgp:net100",
		}},
		{"vxlan200", []string{"vxlan id 200 local 10.99.0.1 dev vxul0 ", " nolearning ", "master vxbr200 "}},
	} {
		wantWords(t, "ip -d link show "+tc.dev, nstest.IP(t, ns, "-d", "link", "show", "dev", tc.dev), tc.want...)
	}
	wantWords(t, "ip addr show", nstest.IP(t, ns, "addr", "show", "dev", "vxbr100"),
		"inet 10.100.0.1/16 brd 10.100.255.255 scope global vxbr100")
}

// TestKernelSameAsIproute2 programs one network through the Dataplane and a
// second one with the iproute2 commands of the FRR recipe, and finds the two
// identical, both in `bridge fdb show` and in what Observe makes of them.
func TestKernelSameAsIproute2(t *testing.T) {
	dp, _, ns := newDP(t)
	s := overlay.NewState()
	for _, vni := range []uint32{100, 200} {
		s.AddDevice(overlaytest.ContractDevice(vni))
	}
	applyState(t, dp, s)
	want := s.Clone()
	for _, vni := range []uint32{100, 200} {
		want.AddFDB(overlay.FDB{VNI: vni, MAC: overlay.MustParseMAC("02:00:00:00:02:01"), VTEP: netip.MustParseAddr("10.99.0.2")})
		want.AddFlood(overlay.Flood{VNI: vni, VTEP: netip.MustParseAddr("10.99.0.3")})
		want.AddNeigh(overlay.Neigh{VNI: vni, IP: netip.MustParseAddr("10.9.2.2"), MAC: overlay.MustParseMAC("02:00:00:00:02:01")})
	}
	for _, op := range overlay.Diff(s, want) {
		if op.Object() != "device" && entryVNI(op) == 100 {
			if err := dp.Apply(context.Background(), op); err != nil {
				t.Fatalf("apply %s: %v", op, err)
			}
		}
	}
	nstest.Run(t, "bridge", "-n", ns, "fdb", "replace", "02:00:00:00:02:01", "dev", "vxlan200", "dst", "10.99.0.2", "self", "master", "extern_learn", "dynamic")
	nstest.Run(t, "bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan200", "dst", "10.99.0.3", "self", "permanent")
	nstest.IP(t, ns, "neigh", "replace", "10.9.2.2", "lladdr", "02:00:00:00:02:01", "dev", "vxbr200", "nud", "noarp", "extern_learn")

	norm := func(out string) string { return strings.ReplaceAll(out, "200", "100") }
	if a, b := nstest.Run(t, "bridge", "-n", ns, "fdb", "show", "dev", "vxlan100"), norm(nstest.Run(t, "bridge", "-n", ns, "fdb", "show", "dev", "vxlan200")); sortedLines(a) != sortedLines(b) {
		t.Errorf("fdb differs from iproute2's\n--- vxbgp:\n%s\n--- iproute2:\n%s", a, b)
	}
	if a, b := nstest.IP(t, ns, "neigh", "show", "dev", "vxbr100"), norm(nstest.IP(t, ns, "neigh", "show", "dev", "vxbr200")); a != b {
		t.Errorf("neighbours differ from iproute2's\n--- vxbgp:\n%s\n--- iproute2:\n%s", a, b)
	}
	if got := observe(t, dp); got.String() != want.String() {
		t.Errorf("observe\n--- got:\n%s\n--- want:\n%s", got, want)
	}
}

// sortedLines returns out's lines sorted, without the vxlan device's own
// permanent master entry (its MAC is random).
func sortedLines(out string) string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasSuffix(l, "master vxbr100 permanent") {
			continue
		}
		ls = append(ls, l)
	}
	slices.Sort(ls)
	return strings.Join(ls, "\n")
}

func entryVNI(op overlay.Op) uint32 {
	switch {
	case op.FDB != nil:
		return op.FDB.VNI
	case op.Flood != nil:
		return op.Flood.VNI
	case op.Neigh != nil:
		return op.Neigh.VNI
	}
	return op.Device.VNI
}

// TestForeignObjects checks that Observe sees only what carries our alias,
// that Apply refuses to take over a link named like ours, and that a
// reconciler removing everything of ours leaves everything else alone.
func TestForeignObjects(t *testing.T) {
	dp, _, ns := newDP(t)
	s := kernelState()
	applyState(t, dp, s)

	// A foreign EVPN-style network, as FRR would build it.
	nstest.IP(t, ns, "link", "add", "foreignbr", "type", "bridge")
	nstest.IP(t, ns, "link", "add", "vxlan999", "type", "vxlan", "id", "999", "local", "10.99.0.1", "dev", "vxul0", "dstport", "4789", "nolearning")
	nstest.IP(t, ns, "link", "set", "vxlan999", "master", "foreignbr", "up")
	nstest.IP(t, ns, "link", "set", "foreignbr", "up")
	nstest.Run(t, "bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan999", "dst", "10.9.9.9", "self", "permanent")
	nstest.Run(t, "bridge", "-n", ns, "fdb", "replace", "02:00:00:00:99:01", "dev", "vxlan999", "dst", "10.9.9.9", "self", "master", "extern_learn", "dynamic")
	nstest.IP(t, ns, "neigh", "replace", "10.9.9.9", "lladdr", "02:00:00:00:99:01", "dev", "foreignbr", "nud", "noarp", "extern_learn")
	// A manual (not extern_learn) entry on our own vxlan device.
	nstest.Run(t, "bridge", "-n", ns, "fdb", "add", "02:00:00:00:77:01", "dev", "vxlan100", "dst", "10.7.7.7", "self", "permanent")
	// Links with our names but not our alias.
	nstest.IP(t, ns, "link", "add", "vxbr300", "type", "bridge")
	nstest.IP(t, ns, "link", "add", "vxlan400", "type", "vxlan", "id", "400", "dstport", "4789", "dev", "vxul0")

	if got := observe(t, dp); got.String() != s.String() {
		t.Fatalf("observe sees foreign objects\n--- got:\n%s\n--- want:\n%s", got, s)
	}
	for _, vni := range []uint32{300, 400} {
		d := overlaytest.ContractDevice(vni)
		err := dp.Apply(context.Background(), overlay.Op{Kind: overlay.OpSet, Device: &d})
		if !errors.Is(err, netlinkdp.ErrNotManaged) {
			t.Fatalf("apply device %d over a foreign link: err = %v, want ErrNotManaged", vni, err)
		}
		taken := map[uint32]string{300: "vxbr300", 400: "vxlan400"}[vni]
		if want := "device " + taken + " exists and is not managed by vxbgp"; err.Error() != want {
			t.Errorf("error text %q, want %q", err, want)
		}
		// Deleting it is a no-op, not a takeover.
		if err := dp.Apply(context.Background(), overlay.Op{Kind: overlay.OpDel, Device: &d}); err != nil {
			t.Errorf("delete device %d with foreign links: %v", vni, err)
		}
	}
	if got := observe(t, dp); got.String() != s.String() {
		t.Fatalf("after the refused applies\n--- got:\n%s\n--- want:\n%s", got, s)
	}

	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.Set(overlay.NewState())
	r.MarkSynced()
	if err := r.Sync(context.Background()); err != nil {
		t.Fatalf("sync to empty: %v", err)
	}
	if got := observe(t, dp); got.Len() != 0 {
		t.Fatalf("ours left behind:\n%s", got)
	}
	links := nstest.IP(t, ns, "-o", "link", "show")
	for _, name := range []string{"foreignbr", "vxlan999", "vxbr300", "vxlan400", "vxul0"} {
		if !strings.Contains(links, " "+name+": ") && !strings.Contains(links, " "+name+"@") {
			t.Errorf("%s is gone:\n%s", name, links)
		}
	}
	for _, gone := range []string{"vxbr100", "vxlan100", "vxbr200", "vxlan200"} {
		if strings.Contains(links, " "+gone+": ") {
			t.Errorf("%s still exists", gone)
		}
	}
	wantLines(t, "bridge fdb show dev vxlan999", nstest.Run(t, "bridge", "-n", ns, "fdb", "show", "dev", "vxlan999"),
		"00:00:00:00:00:00 dst 10.9.9.9 self permanent",
		"02:00:00:00:99:01 dst 10.9.9.9 self extern_learn",
		"02:00:00:00:99:01 extern_learn master foreignbr",
	)
	wantLines(t, "ip neigh show dev foreignbr", nstest.IP(t, ns, "neigh", "show", "dev", "foreignbr"),
		"10.9.9.9 lladdr 02:00:00:00:99:01 extern_learn NOARP")
}

// TestNoDevice checks the sentinel the reconciler relies on.
func TestNoDevice(t *testing.T) {
	dp, _, _ := newDP(t)
	ops := []overlay.Op{
		{Kind: overlay.OpSet, FDB: &overlay.FDB{VNI: 7, MAC: overlay.MustParseMAC("02:00:00:00:00:07"), VTEP: netip.MustParseAddr("10.99.0.7")}},
		{Kind: overlay.OpSet, Flood: &overlay.Flood{VNI: 7, VTEP: netip.MustParseAddr("10.99.0.7")}},
		{Kind: overlay.OpSet, Neigh: &overlay.Neigh{VNI: 7, IP: netip.MustParseAddr("10.7.0.7"), MAC: overlay.MustParseMAC("02:00:00:00:00:07")}},
	}
	for _, op := range ops {
		if err := dp.Apply(context.Background(), op); !errors.Is(err, netlinkdp.ErrNoDevice) {
			t.Errorf("apply %s: err = %v, want ErrNoDevice", op, err)
		}
		del := op
		del.Kind = overlay.OpDel
		if err := dp.Apply(context.Background(), del); err != nil {
			t.Errorf("apply %s: %v (entries of a missing device are gone)", del, err)
		}
	}
}

// TestDriftRepaired changes our objects behind the agent's back, as an
// operator might, and checks that Observe notices and one pass repairs it.
func TestDriftRepaired(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drift [][]string // commands; NS is replaced by the namespace
		// flushes says the kernel drops the bridge's neighbours in
		// reaction, asynchronously (linkwatch: the bridge lost its only
		// port, so its carrier): the test waits for that before repairing.
		flushes bool
	}{
		{"vxlan down", [][]string{{"ip", "-n", "NS", "link", "set", "vxlan100", "down"}}, true},
		{"bridge down", [][]string{{"ip", "-n", "NS", "link", "set", "vxbr100", "down"}}, false},
		{"port learning on", [][]string{{"bridge", "-n", "NS", "link", "set", "dev", "vxlan100", "learning", "on"}}, false},
		{"neigh_suppress off", [][]string{{"bridge", "-n", "NS", "link", "set", "dev", "vxlan100", "neigh_suppress", "off"}}, false},
		{"nomaster", [][]string{{"ip", "-n", "NS", "link", "set", "vxlan100", "nomaster"}}, false},
		{"mtu", [][]string{{"ip", "-n", "NS", "link", "set", "vxlan100", "mtu", "1300"}}, false},
		{"master entry gone", [][]string{{"bridge", "-n", "NS", "fdb", "del", "02:00:00:00:02:01", "dev", "vxlan100", "master"}}, false},
		{"self entry gone", [][]string{{"bridge", "-n", "NS", "fdb", "del", "02:00:00:00:02:01", "dev", "vxlan100", "self"}}, false},
		{"gateway mac", [][]string{{"ip", "-n", "NS", "link", "set", "vxbr100", "address", "02:00:00:00:00:99"}}, false},
		{"vxlan deleted", [][]string{{"ip", "-n", "NS", "link", "del", "vxlan100"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp, _, ns := newDP(t)
			want := kernelState()
			r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
			r.Set(want.Clone())
			r.MarkSynced()
			if err := r.Sync(context.Background()); err != nil {
				t.Fatalf("sync: %v", err)
			}
			for _, c := range tc.drift {
				args := append([]string(nil), c[1:]...)
				for i := range args {
					if args[i] == "NS" {
						args[i] = ns
					}
				}
				nstest.Run(t, c[0], args...)
			}
			if tc.flushes {
				waitFor(t, "the kernel to flush the neighbours", func() bool {
					return len(observe(t, dp).Neigh) == 0
				})
			}
			if got := observe(t, dp); got.Equal(want) {
				t.Fatalf("observe did not notice the drift:\n%s", got)
			}
			r.Kick() // what Watch does for link changes, and the resync for the rest
			if err := r.Sync(context.Background()); err != nil {
				t.Fatalf("repair: %v", err)
			}
			if got := observe(t, dp); got.String() != want.String() {
				t.Fatalf("not repaired\n--- got:\n%s\n--- want:\n%s", got, want)
			}
			wantWords(t, "bridge -d link show", nstest.Run(t, "bridge", "-n", ns, "-d", "link", "show", "dev", "vxlan100"),
				"master vxbr100 state forwarding", " learning off ", " neigh_suppress on ")
			wantLines(t, "bridge fdb show", nstest.Run(t, "bridge", "-n", ns, "fdb", "show", "dev", "vxlan100"),
				"02:00:00:00:02:01 dst 10.99.0.2 self extern_learn",
				"02:00:00:00:02:01 extern_learn master vxbr100",
				"00:00:00:00:00:00 dst 10.99.0.2 self permanent")
			wantLines(t, "ip neigh show", nstest.IP(t, ns, "neigh", "show", "dev", "vxbr100"),
				"10.100.2.2 lladdr 02:00:00:00:02:01 extern_learn NOARP")
		})
	}
}

// waitObserved polls Observe until it returns want, or fails after a deadline.
func waitObserved(t *testing.T, dp overlay.Dataplane, want overlay.State) {
	t.Helper()
	var last overlay.State
	waitFor(t, "the desired state", func() bool {
		last = observe(t, dp)
		return last.Equal(want)
	}, func() string { return "--- last observed:\n" + last.String() + "\n--- want:\n" + want.String() })
}

// waitFor polls cond until it holds, or fails the test after a deadline,
// with the text of the optional detail function.
func waitFor(t *testing.T, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline:
			msg := "timed out waiting for " + what
			for _, d := range detail {
				msg += "\n" + d()
			}
			t.Fatal(msg)
		case <-poll.C:
		}
	}
}
