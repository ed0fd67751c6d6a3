package netlinkdp

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The ifindexes a netconf notification carries for host-wide settings
// (NETCONFA_IFINDEX_ALL: net.ipv4.conf.all, and ip_forward, which writes
// it; NETCONFA_IFINDEX_DEFAULT: net.ipv4.conf.default).
const (
	netconfAll     = -1
	netconfDefault = -2
	// netconfaIfindex is NETCONFA_IFINDEX (linux/netconf.h).
	netconfaIfindex = 1
)

// subscribeNetconf follows the kernel's IPv4 and IPv6 netconf
// notifications (RTM_NEWNETCONF): a device's or the host's forwarding,
// proxy_arp (IPv4) or proxy_ndp (IPv6), rp_filter and the like changed,
// by anyone, sysctl writes included. It sends the ifindex of each change
// until done closes. The socket opens in the Dataplane's namespace the way
// the other subscriptions do (for New's Dataplane netns.None(): where the
// process is, no setns). proxy_delay is a neighbour-table parameter the
// kernel announces nothing for: it waits for the resync.
func (d *Dataplane) subscribeNetconf(done chan struct{}, onErr func(error)) (<-chan int32, error) {
	s, err := nl.SubscribeAt(d.ns, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_IPV4_NETCONF, unix.RTNLGRP_IPV6_NETCONF)
	if err != nil {
		return nil, fmt.Errorf("subscribe to netconf updates: %w", err)
	}
	ch := make(chan int32, 64)
	go func() {
		<-done
		s.Close()
	}()
	go func() {
		defer close(ch)
		for {
			msgs, from, err := s.Receive()
			if err != nil {
				select {
				case <-done:
				default:
					onErr(fmt.Errorf("netconf updates: %w", err))
				}
				return
			}
			if from.Pid != nl.PidKernel {
				continue
			}
			for _, m := range msgs {
				if m.Header.Type == unix.NLMSG_ERROR {
					onErr(errors.New("netconf updates: error message from the kernel"))
					return
				}
				idx, ok := netconfIfindex(m)
				if !ok {
					continue
				}
				select {
				case ch <- idx:
				case <-done:
					return
				}
			}
		}
	}()
	return ch, nil
}

// netconfIfindex reads the ifindex of an RTM_NEWNETCONF message: a
// struct netconfmsg (one family byte, aligned to 4) and attributes.
func netconfIfindex(m syscall.NetlinkMessage) (int32, bool) {
	if m.Header.Type != unix.RTM_NEWNETCONF || len(m.Data) < 4 {
		return 0, false
	}
	attrs, err := nl.ParseRouteAttr(m.Data[4:])
	if err != nil {
		return 0, false
	}
	for _, a := range attrs {
		if a.Attr.Type == netconfaIfindex && len(a.Value) >= 4 {
			return int32(nl.NativeEndian().Uint32(a.Value[:4])), true
		}
	}
	return 0, false
}

// netconfKick reports whether a netconf change concerns what we own: one
// of our devices, or a host-wide setting (ip_forward resets every
// device's forwarding).
func netconfKick(links map[int]string, idx int32) bool {
	return idx == netconfAll || idx == netconfDefault || links[int(idx)] != ""
}
