package agent

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// underlay is the host's fabric-facing interface.
type underlay struct {
	Addr netip.Addr
	// Addr6 is the first global IPv6 address of Dev, looked up only when
	// some network has subnet6 (invalid otherwise, or when Dev has none
	// in overlay mode, which does not need it).
	Addr6 netip.Addr
	Dev   string
	MTU   int
}

// defaultRouteAddr returns the first IPv4 address of the interface that
// holds the IPv4 default route: the underlay address when the config names
// none (like Calico's first-found autodetection, but deterministic).
func defaultRouteAddr(h *netlink.Handle) (netip.Addr, error) {
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 254}, netlink.RT_FILTER_TABLE)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return netip.Addr{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			continue
		}
		link, err := h.LinkByIndex(r.LinkIndex)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("default route link %d: %w", r.LinkIndex, err)
		}
		addrs, err := h.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("addresses of %s: %w", link.Attrs().Name, err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip.IsGlobalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, errors.New("no IPv4 default route with a global address: set underlay.address")
}

// findUnderlay returns the interface that holds addr, and its MTU.
func findUnderlay(h *netlink.Handle, addr netip.Addr) (underlay, error) {
	links, err := h.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return underlay{}, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
				return underlay{Addr: addr, Dev: l.Attrs().Name, MTU: l.Attrs().MTU}, nil
			}
		}
	}
	return underlay{}, fmt.Errorf("underlay.address %s is not assigned to any interface", addr)
}

// underlayAddr6 returns the first global IPv6 address of the underlay
// device dev (link-local, tentative and DAD-failed addresses skipped): the
// next hop of this host's IPv6 blocks in routed mode.
func underlayAddr6(h *netlink.Handle, dev string) (netip.Addr, error) {
	link, err := h.LinkByName(dev)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("underlay %s: %w", dev, err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V6)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", dev, err)
	}
	for _, a := range addrs {
		if a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Is6() && !ip.Is4In6() && ip.IsGlobalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("underlay %s has no global IPv6 address: routed mode with subnet6 needs one as the next hop of the IPv6 blocks", dev)
}
