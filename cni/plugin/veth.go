package plugin

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// HostVethName is the host side's name for a pod interface: "vxb" and 11
// hex digits of sha1(containerID+ifName), 14 characters (the limit is 15).
func HostVethName(containerID, ifName string) string {
	sum := sha1.Sum([]byte(containerID + ifName))
	return "vxb" + hex.EncodeToString(sum[:])[:11]
}

// createVeth creates the veth pair with the host end in host and the other
// end, already named podIf, in the pod's netns, and returns both links. On
// error the caller deletes hostIf.
//
//	ip link add <hostIf> mtu <mtu> type veth peer name <podIf> netns <pod>
//
// A link already called hostIf can only be a leftover of this same
// attachment (the name is derived from it), so it is deleted first, which
// makes a retried ADD work after a crash.
func createVeth(host, pod *netlink.Handle, podNS netns.NsHandle, hostIf, podIf string, mtu int) (netlink.Link, netlink.Link, error) {
	if old, err := host.LinkByName(hostIf); err == nil {
		if err := host.LinkDel(old); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete stale host veth %s: %w", hostIf, err)
		}
	} else if !isNotFound(err) {
		return nil, nil, fmt.Errorf("look up host veth %s: %w", hostIf, err)
	}
	if _, err := pod.LinkByName(podIf); err == nil {
		return nil, nil, fmt.Errorf("interface %s already exists in the pod's netns", podIf)
	} else if !isNotFound(err) {
		return nil, nil, fmt.Errorf("look up %s in the pod's netns: %w", podIf, err)
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostIf
	attrs.MTU = mtu
	veth := netlink.NewVeth(attrs)
	veth.PeerName = podIf
	veth.PeerMTU = uint32(mtu)
	veth.PeerNamespace = netlink.NsFd(podNS)
	if err := host.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("add veth %s peer %s in the pod's netns: %w", hostIf, podIf, err)
	}
	hostLink, err := host.LinkByName(hostIf)
	if err != nil {
		return nil, nil, fmt.Errorf("look up new host veth %s: %w", hostIf, err)
	}
	podLink, err := pod.LinkByName(podIf)
	if err != nil {
		return nil, nil, fmt.Errorf("look up new %s in the pod's netns: %w", podIf, err)
	}
	return hostLink, podLink, nil
}

// attachHost puts the host veth on the bridge and brings it up.
//
//	ip link set <hostIf> master <bridge> up
func attachHost(host *netlink.Handle, link, bridge netlink.Link) error {
	if err := host.LinkSetMaster(link, bridge); err != nil {
		return fmt.Errorf("set %s master %s: %w", link.Attrs().Name, bridge.Attrs().Name, err)
	}
	if err := host.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", link.Attrs().Name, err)
	}
	return nil
}

// configurePod brings the pod interface up with its addresses and a
// default route per family, via that family's gateway. The interface is
// up before the routes are added: the kernel only accepts a gateway it can
// reach through an up link. An IPv6 address is added with nodad: it is
// ours alone (allocated under the store lock), and duplicate detection
// would only keep it unusable for a second.
//
//	ip link set <podIf> up
//	ip addr add <addr> dev <podIf> [nodad]     for each address
//	ip route add default via <gw> dev <podIf>  for each address's gateway
func configurePod(pod *netlink.Handle, link netlink.Link, addrs []podAddr) error {
	name := link.Attrs().Name
	if err := pod.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up in the pod: %w", name, err)
	}
	for _, a := range addrs {
		na := &netlink.Addr{IPNet: a.addr}
		if a.is6() {
			na.Flags = unix.IFA_F_NODAD
		}
		if err := pod.AddrAdd(link, na); err != nil {
			return fmt.Errorf("add address %s to %s in the pod: %w", a.addr, name, err)
		}
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: a.gw, Dst: defaultDst(a.gw)}
		if err := pod.RouteAdd(route); err != nil {
			return fmt.Errorf("add default route via %s dev %s in the pod: %w", a.gw, name, err)
		}
	}
	return nil
}

// defaultDst is 0.0.0.0/0 or ::/0, matching gw's family.
func defaultDst(gw net.IP) *net.IPNet {
	if gw.To4() != nil {
		return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	}
	return &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
}

// deleteLink removes a link by name; a missing link is fine.
//
//	ip link del <name>
func deleteLink(h *netlink.Handle, name string) error {
	link, err := h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
