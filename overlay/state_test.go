package overlay_test

import (
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// TestStateString checks the iproute2 text of what routed mode adds: a
// device without VXLAN device, proxy ARP, and routes with one or several
// gateways.
func TestStateString(t *testing.T) {
	proxied := dev(100)
	proxied.ProxyARP = true
	for _, tc := range []struct {
		name string
		s    overlay.State
		want string
	}{
		{"routed device", state(routedDev(100)), `
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450 proxy_arp on`},
		{"overlay device with proxy arp", state(proxied), `
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450 proxy_arp on; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100`},
		{"dual-stack gateway", state(func() overlay.Device {
			d := dev(100)
			d.Gateway6 = netip.MustParsePrefix("fd00::1/64")
			return d
		}()), `
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 gateway6 fd00::1/64 mtu 1450; link vxlan100 type vxlan id 100 local 10.0.0.1 dev eth0 dstport 4789 mtu 1450 master vxbr100`},
		{"routed dual-stack device with proxy nd", state(func() overlay.Device {
			d := routedDev(100)
			d.Gateway6 = netip.MustParsePrefix("fd00::1/48")
			d.NDProxy = netip.MustParsePrefix("fd00:0:0:1::/64")
			return d
		}()), `
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 gateway6 fd00::1/48 mtu 1450 proxy_arp on proxy_nd fd00:0:0:1::/64`},
		{"routes, sorted with the rest", state(routedDev(100),
			route("10.244.3.0/24", "10.0.0.3"), route("10.244.2.0/24", "10.0.0.3", "10.0.0.2"), route("fd00:2::/64", "fd99::2")), `
link vxbr100 type bridge address 02:76:78:62:67:01 gateway 10.244.0.1/16 mtu 1450 proxy_arp on
route 10.244.2.0/24 proto vxbgp nexthop via 10.0.0.2 nexthop via 10.0.0.3
route 10.244.3.0/24 proto vxbgp nexthop via 10.0.0.3
route fd00:2::/64 proto vxbgp nexthop via fd99::2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.String(); got != text(tc.want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, text(tc.want))
			}
		})
	}
}

// TestStateNormalises checks that AddRoute and AddDevice store what a
// Dataplane observes, so that a caller's unsorted gateways or leftover
// tunnel fields never make a state look out of sync.
func TestStateNormalises(t *testing.T) {
	s := overlay.NewState()
	via := []netip.Addr{netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}
	s.AddRoute(overlay.Route{Dst: netip.MustParsePrefix("10.244.2.7/24"), Via: via})
	r, ok := s.Routes[netip.MustParsePrefix("10.244.2.0/24")]
	if !ok || !r.Equal(route("10.244.2.0/24", "10.0.0.2", "10.0.0.3")) || !r.Normal() {
		t.Errorf("AddRoute stored %v (found %v)", r, ok)
	}
	if via[0] != netip.MustParseAddr("10.0.0.3") {
		t.Errorf("AddRoute sorted the caller's slice: %v", via)
	}
	if (overlay.Route{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: via}).Normal() {
		t.Error("unsorted gateways with a duplicate count as normal")
	}

	d := dev(100)
	d.VXLAN = ""
	s.AddDevice(d)
	if got := s.Devices[100]; got.VTEP.IsValid() || got.Underlay != "" || got.Port != 0 || got.Bridge != "vxbr100" {
		t.Errorf("AddDevice kept tunnel fields of a device without VXLAN device: %+v", got)
	}
	s.AddDevice(dev(200))
	if got := s.Devices[200]; got != dev(200) {
		t.Errorf("AddDevice changed an overlay device: %+v", got)
	}
	v6only := dev(300)
	v6only.Gateway, v6only.Gateway6 = netip.Prefix{}, netip.MustParsePrefix("fd00::1/64")
	s.AddDevice(v6only)
	if got := s.Devices[300]; got.Gateway != netip.MustParsePrefix("fd00::1/64") || got.Gateway6.IsValid() {
		t.Errorf("AddDevice kept a lone IPv6 gateway in Gateway6: %+v", got)
	}
	if got := s.Devices[300].IPv6Gateway(); got != netip.MustParsePrefix("fd00::1/64") {
		t.Errorf("IPv6Gateway of an IPv6-only device = %s", got)
	}
	if got := dev(200).IPv6Gateway(); got.IsValid() {
		t.Errorf("IPv6Gateway of an IPv4-only device = %s", got)
	}
	nd := routedDev(400)
	nd.Gateway6, nd.NDProxy = netip.MustParsePrefix("fd00::1/48"), netip.MustParsePrefix("fd00:0:0:1::7/64")
	s.AddDevice(nd)
	if got := s.Devices[400].NDProxy; got != netip.MustParsePrefix("fd00:0:0:1::/64") {
		t.Errorf("AddDevice stored NDProxy %s, want it masked", got)
	}
}

// TestStateCloneEqual checks that Clone copies routes deeply and that
// Equal compares them by value.
func TestStateCloneEqual(t *testing.T) {
	s := state(dev(100), route("10.244.2.0/24", "10.0.0.2", "10.0.0.3"))
	c := s.Clone()
	if !c.Equal(s) || c.Len() != 2 {
		t.Fatalf("clone differs: %s (len %d)", c, c.Len())
	}
	c.Routes[netip.MustParsePrefix("10.244.2.0/24")].Via[0] = netip.MustParseAddr("10.0.0.9")
	if got := s.Routes[netip.MustParsePrefix("10.244.2.0/24")].Via[0]; got != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("changing the clone's gateway changed the original's: %s", got)
	}
	if c.Equal(s) {
		t.Fatal("states with other gateways are Equal")
	}
	if !(overlay.State{}).Equal(overlay.NewState()) || !(overlay.State{}).Clone().Equal(overlay.NewState()) {
		t.Fatal("the zero State is not the empty state")
	}

	// Apply works on a State whose Routes map was never allocated, as a
	// control plane's literal may leave it.
	lit := overlay.State{Devices: map[uint32]overlay.Device{}}
	r := route("10.244.2.0/24", "10.0.0.2")
	lit.Apply(overlay.Op{Kind: overlay.OpSet, Route: &r})
	if len(lit.Routes) != 1 {
		t.Fatalf("Apply on a nil Routes map: %s", lit)
	}

	// Setting a device without VXLAN device drops its FDB and flood
	// entries, and only its own, as the kernel does.
	k := state(dev(100), dev(200), fdb(100, "02:00:00:00:00:01", "10.0.0.2"), flood(100, "10.0.0.2"),
		fdb(200, "02:00:00:00:00:01", "10.0.0.2"), neigh(100, "10.244.2.2", "02:00:00:00:00:01"))
	rd := routedDev(100)
	k.Apply(overlay.Op{Kind: overlay.OpSet, Device: &rd})
	want := state(routedDev(100), dev(200), fdb(200, "02:00:00:00:00:01", "10.0.0.2"), neigh(100, "10.244.2.2", "02:00:00:00:00:01"))
	if !k.Equal(want) {
		t.Fatalf("after setting the routed device:\n%s\nwant:\n%s", k, want)
	}
}

// TestOpString checks that an op on a device names its proxy ND block,
// which starts or stops a responder.
func TestOpString(t *testing.T) {
	d := routedDev(100)
	d.Gateway6, d.NDProxy = netip.MustParsePrefix("fd00::1/48"), netip.MustParsePrefix("fd00:0:0:1::/64")
	o := dev(200)
	for _, tc := range []struct {
		op   overlay.Op
		want string
	}{
		{overlay.Op{Kind: overlay.OpSet, Device: &d}, "set device vxbr100 vni 100 proxy_nd fd00:0:0:1::/64"},
		{overlay.Op{Kind: overlay.OpDel, Device: &o}, "del device vxbr200/vxlan200 vni 200"},
	} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestOverhead(t *testing.T) {
	for _, tc := range []struct {
		vtep string
		want int
	}{{"192.0.2.1", 50}, {"::ffff:192.0.2.1", 50}, {"2001:db8::1", 70}, {"fd00::1", 70}} {
		if got := overlay.Overhead(netip.MustParseAddr(tc.vtep)); got != tc.want {
			t.Errorf("Overhead(%s) = %d, want %d", tc.vtep, got, tc.want)
		}
	}
}
