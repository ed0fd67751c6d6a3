package overlaytest

import (
	"context"
	"net/netip"
	"strconv"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// ContractUnderlay is the underlay device of the contract's networks, and
// ContractVTEP the local address they use. A kernel Dataplane's newDP must
// create ContractUnderlay (MTU 1500, up) in the Dataplane's namespace, with
// ContractVTEP/24 and ContractVTEP6/64 on it, so that the contract's route
// gateways (10.99.0.2-4, fd99::2-4) are on-link.
const ContractUnderlay = "vxul0"

// ContractVTEP is the contract's local VTEP address; ContractVTEP6 its IPv6
// underlay address.
var (
	ContractVTEP  = netip.MustParseAddr("10.99.0.1")
	ContractVTEP6 = netip.MustParseAddr("fd99::1")
)

// Contract runs the behaviour every overlay.Dataplane must have as subtests,
// each on a fresh Dataplane from newDP, comparing Observe's String() with
// the expected iproute2 text. It runs against this package's fake and
// against overlay/netlinkdp in a fresh network namespace, so the fake the
// unit tests rely on is checked against the kernel.
func Contract(t *testing.T, newDP func(t *testing.T) overlay.Dataplane) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, dp overlay.Dataplane)
	}{
		{"Apply", contractApply},
		{"Idempotent", contractIdempotent},
		{"DeleteEntries", contractDeleteEntries},
		{"DeleteDevice", contractDeleteDevice},
		{"FDBMovesToNewVTEP", contractFDBMove},
		{"FloodList", contractFloodList},
		{"DeviceUpdateKeepsEntries", contractDeviceUpdate},
		{"EntryWithoutDevice", contractNoDevice},
		{"Reconciler", contractReconciler},
		{"RestartDeletesOnlyAfterSync", contractRestart},
		{"Routes", contractRoutes},
		{"RouteReplace", contractRouteReplace},
		{"BadRoutes", contractBadRoutes},
		{"RoutedDevice", contractRoutedDevice},
		{"ProxyARP", contractProxyARP},
		{"ProxyND", contractProxyND},
		{"OverlayToRouted", contractOverlayToRouted},
		{"SwitchKeepsVXLANUntilSync", contractSwitchKeepsVXLAN},
		{"NAT", contractNAT},
		{"NATReconciler", contractNATReconciler},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newDP(t)) })
	}
}

// ContractDevice is the contract's network for vni: bridge vxbr<vni> and
// vxlan<vni> on ContractUnderlay, gateway 10.<vni%256>.0.1/16.
func ContractDevice(vni uint32) overlay.Device {
	return overlay.Device{
		VNI:        vni,
		Network:    "net" + itoa(vni),
		Bridge:     overlay.BridgeName(vni),
		VXLAN:      overlay.VXLANName(vni),
		VTEP:       ContractVTEP,
		Underlay:   ContractUnderlay,
		Port:       4789,
		MTU:        1450,
		GatewayMAC: overlay.DefaultGatewayMAC,
		Gateway:    netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(vni), 0, 1}), 16),
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// contractState is a small but complete state: two networks, each with
// unicast MACs, IPv4 and IPv6 neighbours and a flood list.
func contractState() overlay.State {
	s := overlay.NewState()
	s.AddDevice(ContractDevice(100))
	s.AddDevice(ContractDevice(200))
	s.AddFDB(fdb(100, "02:00:00:00:02:01", "10.99.0.2"))
	s.AddFDB(fdb(100, "02:00:00:00:03:01", "10.99.0.3"))
	s.AddFDB(fdb(200, "02:00:00:00:02:02", "10.99.0.2"))
	s.AddFlood(flood(100, "10.99.0.2"))
	s.AddFlood(flood(100, "10.99.0.3"))
	s.AddFlood(flood(200, "10.99.0.2"))
	s.AddNeigh(neigh(100, "10.100.2.2", "02:00:00:00:02:01"))
	s.AddNeigh(neigh(100, "fd00:100::2:2", "02:00:00:00:02:01"))
	s.AddNeigh(neigh(200, "10.200.2.2", "02:00:00:00:02:02"))
	return s
}

func fdb(vni uint32, mac, vtep string) overlay.FDB {
	return overlay.FDB{VNI: vni, MAC: overlay.MustParseMAC(mac), VTEP: netip.MustParseAddr(vtep)}
}

func flood(vni uint32, vtep string) overlay.Flood {
	return overlay.Flood{VNI: vni, VTEP: netip.MustParseAddr(vtep)}
}

func neigh(vni uint32, ip, mac string) overlay.Neigh {
	return overlay.Neigh{VNI: vni, IP: netip.MustParseAddr(ip), MAC: overlay.MustParseMAC(mac)}
}

// applyAll applies ops in order and fails the test on the first error.
func applyAll(t *testing.T, dp overlay.Dataplane, ops []overlay.Op) {
	t.Helper()
	for _, op := range ops {
		if err := dp.Apply(context.Background(), op); err != nil {
			t.Fatalf("apply %s: %v", op, err)
		}
	}
}

// build applies everything needed to go from nothing to s.
func build(t *testing.T, dp overlay.Dataplane, s overlay.State) {
	t.Helper()
	applyAll(t, dp, overlay.Diff(overlay.NewState(), s))
}

// wantObserved fails the test unless Observe returns want.
func wantObserved(t *testing.T, dp overlay.Dataplane, want overlay.State, step string) {
	t.Helper()
	got, err := dp.Observe(context.Background())
	if err != nil {
		t.Fatalf("%s: observe: %v", step, err)
	}
	if g, w := got.String(), want.String(); g != w {
		t.Fatalf("%s: observed state differs\n--- got:\n%s\n--- want:\n%s", step, g, w)
	}
	if !got.Equal(want) {
		t.Fatalf("%s: observed state has the same text but is not Equal", step)
	}
}

func set(o any) overlay.Op { return op(overlay.OpSet, o) }
func del(o any) overlay.Op { return op(overlay.OpDel, o) }

func op(k overlay.OpKind, o any) overlay.Op {
	switch v := o.(type) {
	case overlay.Device:
		return overlay.Op{Kind: k, Device: &v}
	case overlay.FDB:
		return overlay.Op{Kind: k, FDB: &v}
	case overlay.Flood:
		return overlay.Op{Kind: k, Flood: &v}
	case overlay.Neigh:
		return overlay.Op{Kind: k, Neigh: &v}
	case overlay.Route:
		return overlay.Op{Kind: k, Route: &v}
	case overlay.NAT:
		return overlay.Op{Kind: k, NAT: &v}
	}
	panic("op of unknown object")
}

func contractApply(t *testing.T, dp overlay.Dataplane) {
	wantObserved(t, dp, overlay.NewState(), "empty")
	s := contractState()
	build(t, dp, s)
	wantObserved(t, dp, s, "after apply")
}

func contractIdempotent(t *testing.T, dp overlay.Dataplane) {
	s := contractState()
	ops := overlay.Diff(overlay.NewState(), s)
	applyAll(t, dp, ops)
	applyAll(t, dp, ops)
	wantObserved(t, dp, s, "every set applied twice")
	// Deleting what is gone succeeds too.
	gone := []overlay.Op{
		del(fdb(100, "02:00:00:00:09:09", "10.99.0.9")),
		del(flood(100, "10.99.0.9")),
		del(neigh(100, "10.100.9.9", "02:00:00:00:09:09")),
		del(ContractDevice(300)),
	}
	applyAll(t, dp, gone)
	applyAll(t, dp, gone)
	wantObserved(t, dp, s, "deletes of missing objects")
}

func contractDeleteEntries(t *testing.T, dp overlay.Dataplane) {
	s := contractState()
	build(t, dp, s)
	gone := []overlay.Op{
		del(fdb(100, "02:00:00:00:03:01", "10.99.0.3")),
		del(flood(100, "10.99.0.3")),
		del(neigh(100, "fd00:100::2:2", "02:00:00:00:02:01")),
	}
	applyAll(t, dp, gone)
	want := s.Clone()
	for _, o := range gone {
		want.Apply(o)
	}
	wantObserved(t, dp, want, "after deletes")
	applyAll(t, dp, gone)
	wantObserved(t, dp, want, "after deletes, again")
}

func contractDeleteDevice(t *testing.T, dp overlay.Dataplane) {
	s := contractState()
	build(t, dp, s)
	// Deleting a device takes its entries with it.
	applyAll(t, dp, []overlay.Op{del(ContractDevice(200))})
	want := overlay.NewState()
	want.AddDevice(ContractDevice(100))
	for k, f := range s.FDB {
		if k.VNI == 100 {
			want.AddFDB(f)
		}
	}
	for f := range s.Flood {
		if f.VNI == 100 {
			want.AddFlood(f)
		}
	}
	for k, n := range s.Neigh {
		if k.VNI == 100 {
			want.AddNeigh(n)
		}
	}
	wantObserved(t, dp, want, "after deleting vni 200")
	applyAll(t, dp, []overlay.Op{del(ContractDevice(200)), del(ContractDevice(100))})
	wantObserved(t, dp, overlay.NewState(), "after deleting every device")
}

func contractFDBMove(t *testing.T, dp overlay.Dataplane) {
	s := overlay.NewState()
	s.AddDevice(ContractDevice(100))
	s.AddFDB(fdb(100, "02:00:00:00:02:01", "10.99.0.2"))
	build(t, dp, s)
	// The MAC moved to another host: the entry is replaced, not doubled.
	moved := fdb(100, "02:00:00:00:02:01", "10.99.0.3")
	applyAll(t, dp, []overlay.Op{set(moved)})
	s.AddFDB(moved)
	wantObserved(t, dp, s, "after the move")
	applyAll(t, dp, []overlay.Op{del(moved)})
	delete(s.FDB, moved.Key())
	wantObserved(t, dp, s, "after deleting the moved MAC")
}

func contractFloodList(t *testing.T, dp overlay.Dataplane) {
	s := overlay.NewState()
	s.AddDevice(ContractDevice(100))
	for _, v := range []string{"10.99.0.2", "10.99.0.3", "10.99.0.4"} {
		s.AddFlood(flood(100, v))
	}
	build(t, dp, s)
	wantObserved(t, dp, s, "three VTEPs")
	// Removing one VTEP keeps the others.
	applyAll(t, dp, []overlay.Op{del(flood(100, "10.99.0.3"))})
	delete(s.Flood, flood(100, "10.99.0.3"))
	wantObserved(t, dp, s, "one VTEP removed")
}

func contractDeviceUpdate(t *testing.T, dp overlay.Dataplane) {
	s := contractState()
	build(t, dp, s)
	for _, step := range []struct {
		name   string
		change func(*overlay.Device)
	}{
		{"mtu", func(d *overlay.Device) { d.MTU = 1400 }},
		{"gateway", func(d *overlay.Device) { d.Gateway = netip.MustParsePrefix("10.100.0.254/24") }},
		{"gateway mac", func(d *overlay.Device) { d.GatewayMAC = overlay.MustParseMAC("02:00:00:00:00:fe") }},
		{"network name", func(d *overlay.Device) { d.Network = "renamed" }},
		{"ipv6 gateway added", func(d *overlay.Device) { d.Gateway6 = netip.MustParsePrefix("fd00:100::1/64") }},
		{"ipv6 gateway changed", func(d *overlay.Device) { d.Gateway6 = netip.MustParsePrefix("fd00:100:1::1/80") }},
		{"ipv6 gateway removed", func(d *overlay.Device) { d.Gateway6 = netip.Prefix{} }},
		// What a kernel cannot change in place: its entries must survive.
		{"vtep", func(d *overlay.Device) { d.VTEP = netip.MustParseAddr("10.99.0.11") }},
		{"port", func(d *overlay.Device) { d.Port = 4790 }},
	} {
		d := s.Devices[100]
		step.change(&d)
		applyAll(t, dp, []overlay.Op{set(d)})
		s.AddDevice(d)
		wantObserved(t, dp, s, "after changing the "+step.name)
	}
}

func contractNoDevice(t *testing.T, dp overlay.Dataplane) {
	for _, o := range []overlay.Op{
		set(fdb(999, "02:00:00:00:02:01", "10.99.0.2")),
		set(flood(999, "10.99.0.2")),
		set(neigh(999, "10.9.9.9", "02:00:00:00:02:01")),
	} {
		if err := dp.Apply(context.Background(), o); err == nil {
			t.Errorf("apply %s without its device: no error", o)
		}
	}
	wantObserved(t, dp, overlay.NewState(), "after failed sets")
}

// contractStates is a sequence a reconciler is driven through: growth, a
// moved MAC, a new and a removed network, a changed device, back to
// nothing, a network switched to routed mode with routes and back.
func contractStates() []overlay.State {
	a := contractState()

	b := a.Clone()
	b.AddFDB(fdb(100, "02:00:00:00:02:01", "10.99.0.4")) // moved
	b.AddFDB(fdb(100, "02:00:00:00:04:01", "10.99.0.4"))
	b.AddFlood(flood(100, "10.99.0.4"))
	delete(b.Flood, flood(100, "10.99.0.3"))
	delete(b.FDB, overlay.FDBKey{VNI: 100, MAC: overlay.MustParseMAC("02:00:00:00:03:01")})
	b.AddNeigh(neigh(100, "10.100.2.2", "02:00:00:00:04:01")) // re-pointed IP
	b.AddDevice(ContractDevice(300))
	b.AddFDB(fdb(300, "02:00:00:00:02:03", "10.99.0.2"))
	b.AddFlood(flood(300, "10.99.0.2"))

	c := overlay.NewState()
	d300 := ContractDevice(300)
	d300.MTU = 1400
	c.AddDevice(d300)
	c.AddFDB(fdb(300, "02:00:00:00:02:03", "10.99.0.3"))
	c.AddNeigh(neigh(300, "10.44.2.3", "02:00:00:00:02:03"))

	// Network 100 in routed mode beside 200 in overlay mode, with routes.
	r := a.Clone()
	r.Apply(set(ContractRoutedDevice(100))) // its FDB and flood entries go with the vxlan device
	for k := range r.Neigh {
		if k.VNI == 100 {
			delete(r.Neigh, k)
		}
	}
	r.AddRoute(route("10.100.2.0/24", "10.99.0.2"))
	r.AddRoute(route("10.100.3.0/24", "10.99.0.3", "10.99.0.4"))
	r.AddRoute(route("fd00:100:3::/64", "fd99::3"))

	return []overlay.State{a, b, c, overlay.NewState(), a, r, b, r, overlay.NewState()}
}

func contractReconciler(t *testing.T, dp overlay.Dataplane) {
	ctx := context.Background()
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.MarkSynced()
	for i, want := range contractStates() {
		r.Set(want.Clone())
		if err := r.Sync(ctx); err != nil {
			t.Fatalf("state %d: sync: %v", i, err)
		}
		wantObserved(t, dp, want, "state "+itoa(uint32(i)))
		// A second pass, from a fresh reading of the kernel, has nothing to do.
		r.Kick()
		if err := r.Sync(ctx); err != nil {
			t.Fatalf("state %d: second sync: %v", i, err)
		}
		if ops := overlay.Diff(r.Current(), want); len(ops) != 0 {
			t.Fatalf("state %d: after a second pass still %d ops to do, first %s", i, len(ops), ops[0])
		}
	}
}

func contractRestart(t *testing.T, dp overlay.Dataplane) {
	ctx := context.Background()
	states := contractStates()
	before, after := states[0], states[1]
	build(t, dp, before) // the previous run's kernel state

	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.Set(after.Clone())
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync before MarkSynced: %v", err)
	}
	// Adds and updates are done, nothing is deleted yet.
	merged := before.Clone()
	for _, o := range overlay.Diff(before, after) {
		if o.Kind == overlay.OpSet {
			merged.Apply(o)
		}
	}
	wantObserved(t, dp, merged, "before MarkSynced")

	r.MarkSynced()
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync after MarkSynced: %v", err)
	}
	wantObserved(t, dp, after, "after MarkSynced")
}
