package agent

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/control/config"
)

func dualStackAgent(mode string, addr6 string) *agent {
	cfg := config.Default()
	cfg.Mode = mode
	cfg.Networks = []config.Network{
		{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24",
			Subnet6: "fd00:10:244::/48", Gateway6: "fd00:10:244::1", Block6: "fd00:10:244:1::/64"},
		{Name: "v4", VNI: 200, Subnet: "10.96.0.0/16", Gateway: "10.96.0.1", Block: "10.96.1.0/24"},
	}
	a := &agent{cfg: cfg, ul: underlay{Dev: "eth0", MTU: 1500, Addr: netip.MustParseAddr("192.0.2.1")}}
	if addr6 != "" {
		a.ul.Addr6 = netip.MustParseAddr(addr6)
	}
	nets, err := a.buildNetworks()
	if err != nil {
		panic(err)
	}
	a.networks = nets
	return a
}

// TestRouted6: in routed mode a dual-stack host advertises its block6 via
// its IPv6 underlay address, imports subnet6, adds ipv6 to its peers'
// families and answers ND on the dual-stack bridge; in overlay mode only
// the families change (the OPEN is the same in both modes); an IPv4-only
// config keeps the families it had.
func TestRouted6(t *testing.T) {
	p := netip.MustParsePrefix
	r := dualStackAgent(config.ModeRouted, "fd00:250::1")
	if got, want := r.blocks(), []netip.Prefix{p("10.244.1.0/24"), p("10.96.1.0/24"), p("fd00:10:244:1::/64")}; !slices.Equal(got, want) {
		t.Errorf("routed blocks = %v, want %v", got, want)
	}
	if got, want := r.subnets(), []netip.Prefix{p("10.244.0.0/16"), p("10.96.0.0/16"), p("fd00:10:244::/48")}; !slices.Equal(got, want) {
		t.Errorf("routed subnets = %v, want %v", got, want)
	}
	if got := r.nextHop6(); got != netip.MustParseAddr("fd00:250::1") {
		t.Errorf("routed nextHop6 = %s", got)
	}
	if got := r.families(); !slices.Equal(got, []string{"evpn", "ipv4", "ipv6"}) {
		t.Errorf("routed families = %v", got)
	}
	nd := r.ndNets()
	if len(nd) != 1 || nd["vxbr100"] != (ndNet{Subnet6: p("fd00:10:244::/48"), Block6: p("fd00:10:244:1::/64"), Gateway6: netip.MustParseAddr("fd00:10:244::1")}) {
		t.Errorf("routed ndNets = %+v", nd)
	}

	o := dualStackAgent(config.ModeOverlay, "fd00:250::1")
	if got := o.blocks(); len(got) != 2 {
		t.Errorf("overlay blocks = %v, want the IPv4 ones", got)
	}
	if got := o.subnets(); len(got) != 2 {
		t.Errorf("overlay subnets = %v, want the IPv4 ones", got)
	}
	if o.nextHop6().IsValid() || o.ndNets() != nil {
		t.Errorf("overlay: nextHop6 %s, ndNets %v, want none", o.nextHop6(), o.ndNets())
	}
	if got := o.families(); !slices.Equal(got, []string{"evpn", "ipv4", "ipv6"}) {
		t.Errorf("overlay families = %v", got)
	}

	v4 := dualStackAgent(config.ModeRouted, "")
	v4.cfg.Networks[0].Subnet6, v4.cfg.Networks[0].Gateway6, v4.cfg.Networks[0].Block6 = "", "", ""
	if got := v4.families(); !slices.Equal(got, []string{"evpn", "ipv4"}) {
		t.Errorf("IPv4-only families = %v", got)
	}
	if got := v4.blocks(); len(got) != 2 || v4.ndNets() != nil {
		t.Errorf("IPv4-only: blocks %v, ndNets %v", got, v4.ndNets())
	}
}

// TestUnderlayAddr6 (root): the first global IPv6 address of the device,
// skipping link-local ones; none is an error that says what is missing.
func TestUnderlayAddr6(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (network namespace)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Skipf("new netns: %v", err)
	}
	defer ns.Close()
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dev := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ul0"}} // any device with addresses
	if err := h.LinkAdd(dev); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(dev); err != nil {
		t.Fatal(err)
	}
	ll, _ := netlink.ParseAddr("fe80::7/64")
	ll.Flags = unix.IFA_F_NODAD
	if err := h.AddrAdd(dev, ll); err != nil {
		t.Fatal(err)
	}
	if _, err := underlayAddr6(h, "ul0"); err == nil || !strings.Contains(err.Error(), "ul0 has no global IPv6 address") {
		t.Errorf("no address: err = %v", err)
	}
	for _, a := range []string{"fd00:250::7/64", "fd00:251::7/64"} {
		ip, ipn, _ := net.ParseCIDR(a)
		ipn.IP = ip
		if err := h.AddrAdd(dev, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := underlayAddr6(h, "ul0")
	if err != nil || (got != netip.MustParseAddr("fd00:250::7") && got != netip.MustParseAddr("fd00:251::7")) {
		t.Errorf("underlayAddr6 = %s, %v", got, err)
	}
}
