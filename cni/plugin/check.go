package plugin

import (
	"fmt"
	"net"
	"strings"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/ipam"
)

// Check verifies that the pod interface at is still attached as Add left
// it: the store has its address; the host veth exists, is up and on the
// network's bridge; the pod interface is its peer, is up, and has, for
// every pool of the network (IPv4, IPv6), an address in its subnet and a
// default route via its gateway; prev (the runtime's prevResult, may be
// nil) lists the addresses. The error names everything that is missing.
func Check(d Deps, at Attachment, n ipam.NetworkInfo, prev *types100.Result) error {
	rec, err := checkRecord(d, at, "no address allocated in "+n.Name)
	if err != nil {
		return err
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if rec.Network != n.Name {
		bad("addresses %v are in network %s, not %s", rec.IPs, rec.Network, n.Name)
	}
	want, missing := podAddrs(n, rec.IPs)
	for _, p := range missing {
		bad("no address allocated in subnet %s (recorded %v)", p.Subnet, rec.IPs)
	}
	for _, w := range want {
		if prev != nil && !resultHas(prev, w.addr) {
			bad("prevResult does not list %s", w.addr)
		}
	}
	hostLink := checkHost(d, n, rec, bad)
	checkPod(at, rec, want, hostLink, bad)
	if len(problems) > 0 {
		return fmt.Errorf("check container %s interface %s: %s", at.ContainerID, at.IfName, strings.Join(problems, "; "))
	}
	return nil
}

// checkRecord returns at's record in the store; missing says what its
// absence means.
func checkRecord(d Deps, at Attachment, missing string) (ipam.Record, error) {
	rec, ok, err := d.Store.Get(at.ContainerID, at.IfName)
	if err != nil {
		return ipam.Record{}, fmt.Errorf("check container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	if !ok {
		return ipam.Record{}, fmt.Errorf("check container %s interface %s: %s", at.ContainerID, at.IfName, missing)
	}
	return rec, nil
}

// checkHost checks the host veth and returns it (nil when missing).
func checkHost(d Deps, n ipam.NetworkInfo, rec ipam.Record, bad func(string, ...any)) netlink.Link {
	hostIf := rec.HostIf
	if hostIf == "" {
		hostIf = HostVethName(rec.ContainerID, rec.IfName)
	}
	link, err := d.Host.LinkByName(hostIf)
	if err != nil {
		bad("host veth %s missing: %v", hostIf, err)
		return nil
	}
	if link.Type() != "veth" {
		bad("host interface %s is a %s, not a veth", hostIf, link.Type())
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		bad("host veth %s is down", hostIf)
	}
	br, err := d.Host.LinkByName(n.Bridge)
	switch {
	case err != nil:
		bad("bridge %s missing: %v", n.Bridge, err)
	case link.Attrs().MasterIndex != br.Attrs().Index:
		bad("host veth %s is not attached to bridge %s", hostIf, n.Bridge)
	}
	return link
}

// checkPod checks the pod side of the veth: up, and for each of want the
// address and a default route via the gateway.
func checkPod(at Attachment, rec ipam.Record, want []podAddr, hostLink netlink.Link, bad func(string, ...any)) {
	podNS, err := netns.GetFromPath(at.Netns)
	if err != nil {
		bad("netns %q: %v", at.Netns, err)
		return
	}
	defer podNS.Close()
	pod, err := netlink.NewHandleAt(podNS)
	if err != nil {
		bad("netlink in netns %s: %v", at.Netns, err)
		return
	}
	defer pod.Close()
	link, err := pod.LinkByName(at.IfName)
	if err != nil {
		bad("interface %s missing in netns %s: %v", at.IfName, at.Netns, err)
		return
	}
	if mac := link.Attrs().HardwareAddr.String(); !rec.MAC.IsZero() && mac != rec.MAC.String() {
		bad("interface %s has MAC %s, recorded %s", at.IfName, mac, rec.MAC)
	}
	if hostLink != nil && link.Attrs().ParentIndex != hostLink.Attrs().Index {
		bad("interface %s is not the peer of host veth %s", at.IfName, hostLink.Attrs().Name)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		bad("interface %s is down", at.IfName)
	}
	for _, w := range want {
		addr, gw := w.addr, w.gw
		family := netlink.FAMILY_V4
		if w.is6() {
			family = netlink.FAMILY_V6
		}
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return pod.AddrList(link, family) })
		if err != nil {
			bad("list addresses of %s: %v", at.IfName, err)
		} else if !hasAddr(addrs, addr) {
			bad("address %s missing on %s", addr, at.IfName)
		}
		routes, err := retryDump(func() ([]netlink.Route, error) { return pod.RouteList(link, family) })
		if err != nil {
			bad("list routes of %s: %v", at.IfName, err)
		} else if !hasDefaultVia(routes, gw) {
			bad("default route via %s missing on %s", gw, at.IfName)
		}
	}
}

func hasAddr(addrs []netlink.Addr, want *net.IPNet) bool {
	for _, a := range addrs {
		if a.IPNet != nil && a.IP.Equal(want.IP) && a.Mask.String() == want.Mask.String() {
			return true
		}
	}
	return false
}

func hasDefaultVia(routes []netlink.Route, gw net.IP) bool {
	for _, r := range routes {
		if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN {
			continue
		}
		isDefault := r.Dst == nil
		if r.Dst != nil {
			ones, _ := r.Dst.Mask.Size()
			isDefault = ones == 0
		}
		if isDefault && r.Gw.Equal(gw) {
			return true
		}
	}
	return false
}

func resultHas(res *types100.Result, addr *net.IPNet) bool {
	for _, ip := range res.IPs {
		if ip.Address.IP.Equal(addr.IP) {
			return true
		}
	}
	return false
}
