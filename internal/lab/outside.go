package lab

import (
	"context"
	"fmt"
	"net/netip"
)

// Outside is a network beyond the fabric (the internet, a corporate
// network), reached through one host acting as the fabric's border: a
// namespace <run>-out behind the border's ext0, holding a "server" at
// OutsideAddr (and OutsideAddr6 in dual-stack labs). Its addresses are in
// no network's subnet, so pods reach it only through their host's routing
// (and, with natOutgoing, leave masqueraded behind their host's underlay
// address).
//
//	pod ─ h2 ──underlay── h1 (border) ─ext0── out (192.0.2.2, 2001:db8:2::2)
//
// As in a fabric whose hosts route external prefixes to a border: every
// other host has a route to the outside prefix via the border's underlay
// address, and the outside routes the underlay (the masqueraded sources)
// back via the border. It knows no pod subnet, as the internet would not:
// a pod's own address gets no answer from it.
type Outside struct {
	NS     string
	Border *Host
	Addr   netip.Addr // the server: OutsideAddr
	Addr6  netip.Addr // dual-stack labs: OutsideAddr6; else invalid
}

// The outside's addresses (documentation prefixes, RFC 5737 and 3849).
var (
	OutsideAddr  = netip.MustParseAddr("192.0.2.2")
	OutsideAddr6 = netip.MustParseAddr("2001:db8:2::2")
)

const (
	outsideNet     = "192.0.2.0/24"
	outsideBorder  = "192.0.2.1"
	outsideNet6    = "2001:db8:2::/64"
	outsideBorder6 = "2001:db8:2::1"
)

// AddOutside wires the outside network behind border and routes the
// other hosts to it; Close removes it with the lab. In dual-stack labs
// every host also forwards IPv6 (net.ipv6.conf.all.forwarding=1): the
// agent turns that on itself only in routed mode, and an overlay host's
// pods need it to reach IPv6 destinations beyond it.
func (l *Lab) AddOutside(ctx context.Context, border *Host) (*Outside, error) {
	o := &Outside{NS: l.ID + "-out", Border: border, Addr: OutsideAddr}
	if err := l.addNetns(ctx, o.NS); err != nil {
		return nil, err
	}
	onBorder := []string{
		fmt.Sprintf("link add ext0 type veth peer name eth0 netns %s", o.NS),
		"addr add " + outsideBorder + "/24 dev ext0",
		"link set ext0 up",
	}
	onOutside := []string{
		fmt.Sprintf("addr add %s/24 dev eth0", OutsideAddr),
		"link set eth0 up",
		fmt.Sprintf("route add %s%d/%d via %s", underlayPfx, 0, underlayLen, outsideBorder),
	}
	if l.opts.DualStack {
		o.Addr6 = OutsideAddr6
		onBorder = append(onBorder, "addr add "+outsideBorder6+"/64 dev ext0 nodad")
		onOutside = append(onOutside,
			fmt.Sprintf("addr add %s/64 dev eth0 nodad", OutsideAddr6),
			fmt.Sprintf("route add %s/%d via %s", underlayPfx6, underlayLen6, outsideBorder6))
	}
	if err := ipBatch(ctx, border.NS, onBorder); err != nil {
		return nil, err
	}
	if err := ipBatch(ctx, o.NS, onOutside); err != nil {
		return nil, err
	}
	for _, h := range l.Hosts {
		if l.opts.DualStack {
			if err := sysctl(ctx, h.NS, "net.ipv6.conf.all.forwarding=1"); err != nil {
				return nil, err
			}
		}
		if h == border {
			continue
		}
		routes := []string{fmt.Sprintf("route add %s via %s", outsideNet, border.Addr)}
		if l.opts.DualStack {
			routes = append(routes, fmt.Sprintf("route add %s via %s", outsideNet6, border.Addr6))
		}
		if err := ipBatch(ctx, h.NS, routes); err != nil {
			return nil, err
		}
	}
	l.logf("lab %s: outside %s behind %s (%s)", l.ID, o.NS, border.Name, outsideNet)
	return o, nil
}
