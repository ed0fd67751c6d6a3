package netlinkdp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestUnderlay finds the device of an address with its MTU and first
// usable global IPv6 address (not a link-local or tentative one), and
// fails with the sentinel errors where there is nothing to find.
func TestUnderlay(t *testing.T) {
	dp, _, ns := newDP(t)
	// A second device, down: its IPv6 addresses stay tentative (no DAD
	// runs on a link that is down).
	nstest.IP(t, ns, "link", "add", "vxul1", "mtu", "9000", "type", "veth", "peer", "name", "vxul1p")
	nstest.IP(t, ns, "addr", "add", "10.98.0.1/24", "dev", "vxul1")
	nstest.IP(t, ns, "addr", "add", "fe80::7/64", "dev", "vxul1", "nodad")
	nstest.IP(t, ns, "addr", "add", "fd98::7/64", "dev", "vxul1")
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		addr netip.Addr
		want overlay.Underlay
	}{
		{overlaytest.ContractVTEP, overlay.Underlay{Addr: overlaytest.ContractVTEP, Addr6: overlaytest.ContractVTEP6, Dev: overlaytest.ContractUnderlay, MTU: 1500}},
		{overlaytest.ContractVTEP6, overlay.Underlay{Addr: overlaytest.ContractVTEP6, Addr6: overlaytest.ContractVTEP6, Dev: overlaytest.ContractUnderlay, MTU: 1500}},
		{ip("10.98.0.1"), overlay.Underlay{Addr: ip("10.98.0.1"), Dev: "vxul1", MTU: 9000}},
	} {
		got, err := dp.Underlay(tc.addr)
		if err != nil || got != tc.want {
			t.Errorf("Underlay(%s) = %+v, %v; want %+v", tc.addr, got, err, tc.want)
		}
	}
	u, _ := dp.Underlay(ip("10.98.0.1"))
	err := u.RequireAddr6()
	if !errors.Is(err, overlay.ErrNoGlobalIPv6) ||
		err.Error() != "underlay vxul1 has no global IPv6 address: routed mode with subnet6 needs one as the next hop of the IPv6 blocks" {
		t.Errorf("RequireAddr6 without global IPv6 address: %v", err)
	}
	_, err = dp.Underlay(ip("10.99.0.9"))
	if !errors.Is(err, overlay.ErrAddrNotAssigned) || err.Error() != "underlay.address 10.99.0.9 is not assigned to any interface" {
		t.Errorf("Underlay of an address nobody holds: %v", err)
	}
}

// TestDefaultAddr finds the underlay address through the default route,
// and says what to configure without one.
func TestDefaultAddr(t *testing.T) {
	dp, _, ns := newDP(t)
	_, err := dp.DefaultAddr()
	if !errors.Is(err, overlay.ErrNoDefaultRoute) || err.Error() != "no IPv4 default route with a global address: set underlay.address" {
		t.Errorf("DefaultAddr without default route: %v", err)
	}
	nstest.IP(t, ns, "route", "add", "10.50.0.0/16", "via", "10.99.0.2") // not a default route
	nstest.IP(t, ns, "route", "add", "default", "via", "10.99.0.4")
	if got, err := dp.DefaultAddr(); err != nil || got != overlaytest.ContractVTEP {
		t.Errorf("DefaultAddr = %s, %v; want %s", got, err, overlaytest.ContractVTEP)
	}
}
