package netlinkdp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vxbgp/vxbgp/overlay"
	"golang.org/x/sys/unix"
)

// setGateway makes the gateways (the IPv4 and the IPv6 one, either may be
// invalid) the bridge's only global addresses: the anycast gateway. The
// bridge is ours, so any other global address on it is a leftover of a
// previous gateway.
//
// The gateways are added first, so the bridge keeps an address throughout,
// and again after the deletions, because deleting a primary IPv4 address
// takes the secondaries of its subnet with it and the gateway may be one.
// A bridge left without IPv4 addresses loses its neighbours; keep saves them.
//
//	ip addr replace GATEWAY dev BRIDGE; ip addr replace GATEWAY6 dev BRIDGE nodad
//	ip addr del OTHER dev BRIDGE
func (d *Dataplane) setGateway(br netlink.Link, gws []netip.Prefix, keep *keeper) error {
	name := br.Attrs().Name
	if err := d.replaceGateways(br, gws); err != nil {
		return err
	}
	addrs, err := dump("addresses of "+name, func() ([]netlink.Addr, error) { return d.h.AddrList(br, netlink.FAMILY_ALL) })
	if err != nil {
		return err
	}
	var stale []netlink.Addr
	for _, a := range addrs {
		if p, ok := prefixOf(a); ok && a.Scope == unix.RT_SCOPE_UNIVERSE && !slices.Contains(gws, p) {
			stale = append(stale, a)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	if err := keep.saveNeighs(br.Attrs().Index); err != nil {
		return err
	}
	for _, a := range stale {
		// ip addr del OTHER dev BRIDGE
		if err := d.h.AddrDel(br, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("del addr %s dev %s: %w", a.IPNet, name, err)
		}
		d.log.Info("removed stale gateway address", "dev", name, "prefix", a.IPNet.String())
	}
	return d.replaceGateways(br, gws)
}

func (d *Dataplane) replaceGateways(br netlink.Link, gws []netip.Prefix) error {
	for _, gw := range gws {
		if err := d.replaceGateway(br, gw); err != nil {
			return err
		}
	}
	return nil
}

// replaceGateway puts the gateway address on the bridge, if there is one.
// An IPv6 one skips duplicate address detection: every host has it, and
// in overlay mode the hosts' bridges share a link, so DAD would fail it.
//
//	ip addr replace GATEWAY dev BRIDGE [nodad]
func (d *Dataplane) replaceGateway(br netlink.Link, gw netip.Prefix) error {
	if !gw.IsValid() {
		return nil
	}
	bits := 32
	if gw.Addr().Is6() {
		bits = 128
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: gw.Addr().AsSlice(), Mask: net.CIDRMask(gw.Bits(), bits)}}
	if gw.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := d.h.AddrReplace(br, a); err != nil {
		return fmt.Errorf("replace addr %s dev %s: %w", gw, br.Attrs().Name, err)
	}
	return nil
}

// gateways returns the device's gateway addresses.
func gateways(dev overlay.Device) []netip.Prefix {
	return []netip.Prefix{dev.Gateway, dev.Gateway6}
}
