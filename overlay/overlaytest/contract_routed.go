package overlaytest

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// The contract of routed mode: routes, networks without VXLAN device,
// proxy ARP, and switching a network between the modes.

// ContractRoutedDevice is ContractDevice(vni) without VXLAN device and
// with proxy ARP, as routed mode has it.
func ContractRoutedDevice(vni uint32) overlay.Device {
	d := ContractDevice(vni)
	d.VXLAN, d.VTEP, d.Underlay, d.Port = "", netip.Addr{}, "", 0
	d.ProxyARP = true
	return d
}

func route(dst string, via ...string) overlay.Route {
	var vs []netip.Addr
	for _, v := range via {
		vs = append(vs, netip.MustParseAddr(v))
	}
	return overlay.NewRoute(netip.MustParsePrefix(dst), vs...)
}

// contractRouteState holds routes of every shape: one gateway, ECMP of two
// and three, IPv4 and IPv6, and a default route, without any device (a
// route needs none).
func contractRouteState() overlay.State {
	s := overlay.NewState()
	s.AddRoute(route("10.50.2.0/24", "10.99.0.2"))
	s.AddRoute(route("10.50.3.0/24", "10.99.0.3", "10.99.0.2"))
	s.AddRoute(route("10.50.4.0/26", "10.99.0.2", "10.99.0.3", "10.99.0.4"))
	s.AddRoute(route("0.0.0.0/0", "10.99.0.4"))
	s.AddRoute(route("fd50:2::/64", "fd99::2"))
	s.AddRoute(route("fd50:3::/64", "fd99::2", "fd99::3"))
	return s
}

func contractRoutes(t *testing.T, dp overlay.Dataplane) {
	s := contractRouteState()
	ops := overlay.Diff(overlay.NewState(), s)
	applyAll(t, dp, ops)
	wantObserved(t, dp, s, "routes")
	applyAll(t, dp, ops)
	wantObserved(t, dp, s, "routes set twice")
	gone := []overlay.Op{
		del(route("10.50.3.0/24", "10.99.0.3", "10.99.0.2")),
		del(route("fd50:3::/64", "fd99::2")), // a delete matches the prefix, whatever the gateways
		del(route("0.0.0.0/0", "10.99.0.4")),
	}
	applyAll(t, dp, gone)
	for _, o := range gone {
		s.Apply(o)
	}
	wantObserved(t, dp, s, "after deletes")
	applyAll(t, dp, gone)
	applyAll(t, dp, []overlay.Op{del(route("10.77.0.0/16", "10.99.0.2"))})
	wantObserved(t, dp, s, "deletes of missing routes")
}

func contractRouteReplace(t *testing.T, dp overlay.Dataplane) {
	s := contractRouteState()
	build(t, dp, s)
	for _, step := range []overlay.Route{
		route("10.50.2.0/24", "10.99.0.2", "10.99.0.3"),       // one gateway to ECMP
		route("10.50.3.0/24", "10.99.0.4"),                    // ECMP to one gateway
		route("10.50.4.0/26", "10.99.0.3"),                    // three to one, another one
		route("10.50.2.0/24", "10.99.0.4", "10.99.0.3"),       // ECMP to another ECMP
		route("fd50:2::/64", "fd99::3", "fd99::4"),            // IPv6 one to ECMP
		route("fd50:3::/64", "fd99::4"),                       // IPv6 ECMP to one
		route("fd50:3::/64", "fd99::2", "fd99::3", "fd99::4"), // and to ECMP of three
		route("0.0.0.0/0", "10.99.0.2"),                       // the default route moves
	} {
		applyAll(t, dp, []overlay.Op{set(step)})
		s.AddRoute(step)
		wantObserved(t, dp, s, "after "+step.String())
	}
}

func contractBadRoutes(t *testing.T, dp overlay.Dataplane) {
	for _, r := range []overlay.Route{
		{Dst: netip.MustParsePrefix("10.50.2.0/24")},
		route("10.50.2.0/24", "fd99::2"),
		route("fd50:2::/64", "10.99.0.2"),
	} {
		if err := dp.Apply(context.Background(), set(r)); err == nil {
			t.Errorf("apply %s: no error", r)
		}
	}
	wantObserved(t, dp, overlay.NewState(), "after failed sets")
}

func contractRoutedDevice(t *testing.T, dp overlay.Dataplane) {
	s := overlay.NewState()
	s.AddDevice(ContractRoutedDevice(100))
	s.AddDevice(ContractDevice(200))
	s.AddNeigh(neigh(100, "10.100.2.2", "02:00:00:00:02:01"))
	s.AddRoute(route("10.100.2.0/24", "10.99.0.2"))
	build(t, dp, s)
	wantObserved(t, dp, s, "a network without vxlan device")
	// Its tunnel entries have nowhere to go.
	for _, o := range []overlay.Op{
		set(fdb(100, "02:00:00:00:02:01", "10.99.0.2")),
		set(flood(100, "10.99.0.2")),
	} {
		if err := dp.Apply(context.Background(), o); err == nil {
			t.Errorf("apply %s on a network without vxlan device: no error", o)
		}
		// Deleting them succeeds: they are gone.
		gone := o
		gone.Kind = overlay.OpDel
		applyAll(t, dp, []overlay.Op{gone})
	}
	wantObserved(t, dp, s, "after the refused tunnel entries")
	// Its bridge is found by its name: another name is refused.
	other := ContractRoutedDevice(300)
	other.Bridge = "vxbrother"
	if err := dp.Apply(context.Background(), set(other)); err == nil {
		t.Errorf("apply %s with bridge %s: no error", set(other), other.Bridge)
	}
	wantObserved(t, dp, s, "after the refused bridge name")
	// Its changes are applied in place.
	d := s.Devices[100]
	d.MTU, d.Gateway = 1400, netip.MustParsePrefix("10.100.0.254/24")
	applyAll(t, dp, []overlay.Op{set(d)})
	s.AddDevice(d)
	wantObserved(t, dp, s, "after changing the mtu and gateway")
	applyAll(t, dp, []overlay.Op{del(neigh(100, "10.100.2.2", "02:00:00:00:02:01")), del(d)})
	delete(s.Neigh, overlay.NeighKey{VNI: 100, IP: netip.MustParseAddr("10.100.2.2")})
	delete(s.Devices, 100)
	wantObserved(t, dp, s, "after deleting it")
}

func contractProxyARP(t *testing.T, dp overlay.Dataplane) {
	s := overlay.NewState()
	s.AddDevice(ContractRoutedDevice(100))
	s.AddDevice(ContractDevice(200))
	build(t, dp, s)
	wantObserved(t, dp, s, "routed with proxy arp, overlay without")
	for i, on := range []bool{false, true, false} {
		for _, vni := range []uint32{100, 200} {
			d := s.Devices[vni]
			d.ProxyARP = on
			applyAll(t, dp, []overlay.Op{set(d)})
			s.AddDevice(d)
		}
		wantObserved(t, dp, s, "proxy arp "+[]string{"off", "on", "off again"}[i])
	}
}

// ContractNDProxy is ContractRoutedDevice(vni), dual-stack (gateway6
// fd00:<vni>::1/48), answering neighbour solicitations outside the block
// fd00:<vni>:0:<n>::/64.
func ContractNDProxy(vni uint32, n int) overlay.Device {
	d := ContractRoutedDevice(vni)
	d.Gateway6 = netip.MustParsePrefix(fmt.Sprintf("fd00:%d::1/48", vni))
	d.NDProxy = ndBlock(vni, n)
	return d
}

// ndBlock is the contract's IPv6 block n of network vni: fd00:<vni>:0:<n>::/64.
func ndBlock(vni uint32, n int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("fd00:%d:0:%d::/64", vni, n))
}

func contractProxyND(t *testing.T, dp overlay.Dataplane) {
	s := overlay.NewState()
	s.AddDevice(ContractNDProxy(100, 1))
	s.AddDevice(ContractDevice(200))
	build(t, dp, s)
	wantObserved(t, dp, s, "proxy nd on a routed bridge")
	d := s.Devices[100]
	for _, step := range []struct {
		name  string
		block netip.Prefix
	}{
		{"off", netip.Prefix{}},
		{"on again", ndBlock(100, 1)},
		{"another block", ndBlock(100, 2)},
	} {
		d.NDProxy = step.block
		applyAll(t, dp, []overlay.Op{set(d)})
		s.AddDevice(d)
		wantObserved(t, dp, s, "proxy nd "+step.name)
	}
	// A bridge that keeps its VXLAN device (a switch to routed mode before
	// MarkSynced) answers too.
	o := ContractDevice(200)
	o.Gateway6, o.NDProxy = netip.MustParsePrefix("fd00:200::1/48"), ndBlock(200, 1)
	applyAll(t, dp, []overlay.Op{set(o)})
	s.AddDevice(o)
	wantObserved(t, dp, s, "proxy nd on a bridge with vxlan device")
	// Without an IPv6 gateway, with an IPv4 block or a block outside the
	// gateway's subnet, there is nothing to answer for: refused, before
	// anything changes.
	noGateway6 := ContractRoutedDevice(300)
	noGateway6.NDProxy = ndBlock(300, 1)
	v4Block := ContractNDProxy(400, 1)
	v4Block.NDProxy = netip.MustParsePrefix("10.44.1.0/24")
	outside := ContractNDProxy(500, 1)
	outside.NDProxy = ndBlock(501, 1)
	for _, bad := range []overlay.Device{noGateway6, v4Block, outside} {
		if err := dp.Apply(context.Background(), set(bad)); err == nil {
			t.Errorf("apply %s (gateway6 %s): no error", set(bad), bad.Gateway6)
		}
	}
	wantObserved(t, dp, s, "after the refused devices")
	applyAll(t, dp, []overlay.Op{del(d), del(o)})
	wantObserved(t, dp, overlay.NewState(), "after deleting them")
}

func contractOverlayToRouted(t *testing.T, dp overlay.Dataplane) {
	// Networks in overlay mode with tunnel entries; 100's neighbours are
	// left out: a bridge without ports loses its carrier with its vxlan
	// device, and the kernel then drops its neighbours, later (see the
	// kernel test with a pod for neighbours that stay).
	s := contractState()
	for k := range s.Neigh {
		if k.VNI == 100 {
			delete(s.Neigh, k)
		}
	}
	build(t, dp, s)
	want := s.Clone()
	want.AddDevice(ContractRoutedDevice(100))
	want.AddRoute(route("10.100.2.0/24", "10.99.0.2"))
	// What the reconciler does, before MarkSynced: only sets.
	for _, o := range overlay.Diff(s, want) {
		if o.Kind == overlay.OpSet {
			applyAll(t, dp, []overlay.Op{o})
		}
	}
	want.Apply(set(ContractRoutedDevice(100))) // its FDB and flood entries go with the vxlan device
	wantObserved(t, dp, want, "overlay to routed: 100's vxlan device and its entries are gone")
	// And back: the vxlan device comes again, its entries can be set.
	back := want.Clone()
	back.AddDevice(ContractDevice(100))
	back.AddFDB(fdb(100, "02:00:00:00:02:01", "10.99.0.2"))
	back.AddFlood(flood(100, "10.99.0.2"))
	applyAll(t, dp, overlay.Diff(want, back))
	wantObserved(t, dp, back, "routed to overlay")
}

// contractSwitchKeepsVXLAN restarts a reconciler on a network of overlay
// mode with the network wanted in routed mode: until MarkSynced the VXLAN
// device and its entries stay under the routed bridge's settings (proxy
// ARP, proxy ND), and the kernel reads back as exactly that; after, they go.
func contractSwitchKeepsVXLAN(t *testing.T, dp overlay.Dataplane) {
	ctx := context.Background()
	old := contractState()
	for k := range old.Neigh {
		if k.VNI == 100 { // see contractOverlayToRouted
			delete(old.Neigh, k)
		}
	}
	d := ContractDevice(100)
	d.Gateway6 = netip.MustParsePrefix("fd00:100::1/48")
	old.AddDevice(d)
	build(t, dp, old)

	want := old.Clone()
	want.Apply(set(ContractNDProxy(100, 1))) // its FDB and flood entries go with the vxlan device
	want.AddRoute(route("10.100.2.0/24", "10.99.0.2"))
	kept := old.Clone()
	k := ContractNDProxy(100, 1)
	k.VXLAN, k.VTEP, k.Underlay, k.Port = d.VXLAN, d.VTEP, d.Underlay, d.Port
	kept.AddDevice(k)
	kept.AddRoute(route("10.100.2.0/24", "10.99.0.2"))

	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.Set(want.Clone())
	for i := range 2 { // the second pass from a fresh reading of the kernel
		r.Kick()
		if err := r.Sync(ctx); err != nil {
			t.Fatalf("sync %d before MarkSynced: %v", i, err)
		}
		wantObserved(t, dp, kept, "before MarkSynced, pass "+itoa(uint32(i)))
	}
	r.MarkSynced()
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync after MarkSynced: %v", err)
	}
	wantObserved(t, dp, want, "after MarkSynced")
}
