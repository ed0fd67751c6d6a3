package netlinkdp

import (
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// A bridge's own IPv4 settings are set through rtnetlink, not /proc/sys:
// the kernel takes a device's IPv4 devconf values in RTM_SETLINK
// (IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF, inet_set_link_af) and its
// neighbour parameters in RTM_SETNEIGHTBL (neightbl_set), both with
// CAP_NET_ADMIN alone. So a container whose /proc/sys is read-only, as
// container runtimes mount it, still sets them. Only the host-wide
// forwarding switches have no netlink setter (see sysctl.go).
//
// The IPv4 devconf ids (include/uapi/linux/ip.h) and the neighbour table
// attributes (include/uapi/linux/neighbour.h) that x/sys/unix lacks.
const (
	devconfForwarding = 1 // IPV4_DEVCONF_FORWARDING
	devconfProxyARP   = 3 // IPV4_DEVCONF_PROXY_ARP

	ndtaName          = 1  // NDTA_NAME
	ndtaParms         = 6  // NDTA_PARMS
	ndtpaIfindex      = 1  // NDTPA_IFINDEX
	ndtpaProxyDelay   = 13 // NDTPA_PROXY_DELAY, in milliseconds
	arpTableName      = "arp_cache"
	sizeofNdtmsgBytes = 4 // struct ndtmsg: family, two bytes of padding
)

// setInetConf sets IPv4 devconf values of one device.
//
//	sysctl -w net.ipv4.conf.DEV.forwarding=1 net.ipv4.conf.DEV.proxy_arp=1
//	(as RTM_SETLINK ifindex IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { id: value } } })
func (d *Dataplane) setInetConf(ifindex int, conf map[int]uint32) error {
	req := d.request(unix.RTM_SETLINK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	cf := spec.AddRtAttr(unix.AF_INET, nil).AddRtAttr(unix.IFLA_INET_CONF, nil)
	for id, v := range conf {
		cf.AddRtAttr(id, nl.Uint32Attr(v))
	}
	req.AddData(spec)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set ipv4 conf of ifindex %d: %w", ifindex, err)
	}
	return nil
}

// setProxyDelay sets a device's proxy_delay in the ARP table.
//
//	ip ntable change name arp_cache dev DEV proxy_delay MS
func (d *Dataplane) setProxyDelay(ifindex int, ms uint64) error {
	req := d.request(unix.RTM_SETNEIGHTBL)
	req.AddData(ndtmsg(unix.AF_INET))
	req.AddData(nl.NewRtAttr(ndtaName, nl.ZeroTerminated(arpTableName)))
	parms := nl.NewRtAttr(ndtaParms, nil)
	parms.AddRtAttr(ndtpaIfindex, nl.Uint32Attr(uint32(ifindex)))
	parms.AddRtAttr(ndtpaProxyDelay, nl.Uint64Attr(ms))
	req.AddData(parms)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set arp proxy_delay of ifindex %d: %w", ifindex, err)
	}
	return nil
}

// request is an acknowledged rtnetlink request on the Dataplane's own
// socket, so that it reaches the Dataplane's namespace.
func (d *Dataplane) request(typ int) *nl.NetlinkRequest {
	return &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   uint32(unix.SizeofNlMsghdr),
			Type:  uint16(typ),
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: d.raw},
	}
}

// ndtmsg is struct ndtmsg, the header of a neighbour table message.
type ndtmsg uint8

func (m ndtmsg) Len() int { return sizeofNdtmsgBytes }

func (m ndtmsg) Serialize() []byte { return []byte{byte(m), 0, 0, 0} }
