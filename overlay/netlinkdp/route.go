package netlinkdp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// RouteMetric is the metric of the agent's routes. The kernel replaces a
// route with the same prefix and metric, whatever its protocol: at metric
// 0 a replace would take over the host's own route to the prefix (its
// default route, when the fabric offers one) and the delete after a
// withdrawal would leave the host without it. At 20 (what FRR's zebra uses
// for BGP routes) ours sit beside such a route, which keeps precedence,
// and the agent's routes are those of protocol overlay.RouteProtocol and
// this metric in the main table.
const RouteMetric = 20

// setRoute installs a remote block via its gateways, replacing the previous
// gateways of ours in one step. No device is named: the kernel resolves
// each gateway through its own routes (the underlay's connected ones).
//
//	ip route replace DST proto 201 metric 20 via GW
//	ip route replace DST proto 201 metric 20 nexthop via GW1 nexthop via GW2
func (d *Dataplane) setRoute(r overlay.Route) error {
	if !r.Dst.IsValid() || len(r.Via) == 0 {
		return fmt.Errorf("replace route %s: no destination or no gateway", r)
	}
	for _, v := range r.Via {
		if !v.IsValid() || v.Is4() != r.Dst.Addr().Is4() {
			// The kernel takes no IPv4 gateway for an IPv6 route, and the
			// other way round needs RTA_VIA, which Observe does not read.
			return fmt.Errorf("replace route %s: gateway %s is not of the destination's family", r, v)
		}
	}
	nr := kernelRoute(r.Dst)
	if len(r.Via) == 1 {
		nr.Gw = r.Via[0].AsSlice()
	} else {
		for _, v := range r.Via {
			nr.MultiPath = append(nr.MultiPath, &netlink.NexthopInfo{Gw: v.AsSlice()})
		}
	}
	if err := d.h.RouteReplace(nr); err != nil {
		return fmt.Errorf("replace %s: %w", r, err)
	}
	return nil
}

// delRoute removes our route to a prefix, whatever its gateways; a route
// of another protocol or metric to the same prefix stays (the kernel
// matches both), and a missing route is already gone.
//
//	ip route del DST proto 201 metric 20
func (d *Dataplane) delRoute(r overlay.Route) error {
	nr := kernelRoute(r.Dst)
	// RT_SCOPE_NOWHERE matches a route of any scope, as ip route del does.
	nr.Scope = netlink.SCOPE_NOWHERE
	err := d.h.RouteDel(nr)
	if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("del route %s proto %d metric %d: %w", r.Dst, overlay.RouteProtocol, RouteMetric, err)
	}
	return nil
}

// kernelRoute is a route to dst in the main table, with our protocol and
// metric.
func kernelRoute(dst netip.Prefix) *netlink.Route {
	bits := 32
	if dst.Addr().Is6() {
		bits = 128
	}
	return &netlink.Route{
		Dst:      &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), bits)},
		Protocol: overlay.RouteProtocol,
		Priority: RouteMetric,
		Table:    unix.RT_TABLE_MAIN,
	}
}

// observeRoutes reads our routes: those of the main table with our
// protocol and metric, IPv4 and IPv6. An IPv6 multipath route may come as
// one route per gateway: they are folded into one Route by prefix. A route
// of ours without gateway (a blackhole, or a device route someone added
// with our tag) is reported without Via, so that Diff replaces or deletes
// it.
//
//	ip route show proto 201; ip -6 route show proto 201  (those of metric 20)
func (d *Dataplane) observeRoutes(st overlay.State) error {
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: overlay.RouteProtocol}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := dump("routes", func() ([]netlink.Route, error) {
			return d.h.RouteListFiltered(fam, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		})
		if err != nil {
			return err
		}
		for _, nr := range routes {
			dst, ok := routeDst(nr, fam)
			if !ok || nr.Priority != RouteMetric {
				continue
			}
			via := st.Routes[dst].Via
			if gw := addrFrom(nr.Gw); gw.IsValid() {
				via = append(via, gw)
			}
			for _, nh := range nr.MultiPath {
				if gw := addrFrom(nh.Gw); gw.IsValid() {
					via = append(via, gw)
				}
			}
			st.AddRoute(overlay.Route{Dst: dst, Via: via})
		}
	}
	return nil
}

// routeDst returns a route's destination; a default route has none in
// the message.
func routeDst(nr netlink.Route, fam int) (netip.Prefix, bool) {
	if nr.Dst == nil {
		if fam == unix.AF_INET {
			return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
		}
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0), true
	}
	ip := addrFrom(nr.Dst.IP)
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	ones, _ := nr.Dst.Mask.Size()
	return netip.PrefixFrom(ip, ones), true
}
