package netlinkdp

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// DefaultAddr returns the first global IPv4 address of the device that
// holds the IPv4 default route of the main table (of a multipath default
// route, its first device with one): the underlay address when the config
// names none, like Calico's first-found autodetection but deterministic.
// Without one it returns an error wrapping overlay.ErrNoDefaultRoute.
//
//	ip -4 route show default table main; ip -4 addr show dev DEV scope global
func (d *Dataplane) DefaultAddr() (netip.Addr, error) {
	routes, err := dump("routes", func() ([]netlink.Route, error) {
		return d.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return netip.Addr{}, err
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		devs := []int{r.LinkIndex}
		for _, nh := range r.MultiPath {
			devs = append(devs, nh.LinkIndex)
		}
		for _, index := range devs {
			if index == 0 {
				continue
			}
			link, err := d.h.LinkByIndex(index)
			if err != nil {
				return netip.Addr{}, fmt.Errorf("default route link %d: %w", index, err)
			}
			addrs, err := dump("addresses of "+link.Attrs().Name, func() ([]netlink.Addr, error) { return d.h.AddrList(link, netlink.FAMILY_V4) })
			if err != nil {
				return netip.Addr{}, err
			}
			for _, a := range addrs {
				if ip := addrFrom(a.IP); ip.Is4() && ip.IsGlobalUnicast() {
					return ip, nil
				}
			}
		}
	}
	return netip.Addr{}, overlay.NoDefaultRouteError()
}

// Underlay returns the device that holds addr, its MTU, and its first
// global IPv6 address (link-local, tentative and DAD-failed ones skipped;
// invalid if it has none, which only routed mode with IPv6 subnets minds:
// overlay.Underlay.RequireAddr6). An address no device holds is an error
// wrapping overlay.ErrAddrNotAssigned.
//
//	ip -o addr show to ADDR; ip link show dev DEV; ip -6 addr show dev DEV scope global -tentative -dadfailed
func (d *Dataplane) Underlay(addr netip.Addr) (overlay.Underlay, error) {
	addrs, err := dump("addresses", func() ([]netlink.Addr, error) { return d.h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return overlay.Underlay{}, err
	}
	index := 0
	for _, a := range addrs {
		if addr.IsValid() && addrFrom(a.IP) == addr.Unmap() {
			index = a.LinkIndex
			break
		}
	}
	if index == 0 {
		return overlay.Underlay{}, overlay.AddrNotAssignedError(addr)
	}
	link, err := d.h.LinkByIndex(index)
	if err != nil {
		return overlay.Underlay{}, fmt.Errorf("underlay %s link %d: %w", addr, index, err)
	}
	u := overlay.Underlay{Addr: addr.Unmap(), Dev: link.Attrs().Name, MTU: link.Attrs().MTU}
	for _, a := range addrs {
		ip := addrFrom(a.IP)
		if a.LinkIndex != index || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 || !ip.Is6() || !ip.IsGlobalUnicast() {
			continue
		}
		u.Addr6 = ip
		break
	}
	return u, nil
}
