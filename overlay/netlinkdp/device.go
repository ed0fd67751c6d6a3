package netlinkdp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// setDevice creates one network's bridge and vxlan device, or brings
// existing ones in line, in place where the kernel allows it:
//
//	ip link add vxbr100 address GWMAC mtu 1450 group NEWLINKGROUP type bridge
//	ip link add vxlan100 mtu 1450 group NEWLINKGROUP type vxlan id 100 local VTEP dev UNDERLAY dstport 4789 nolearning
//	ip link set vxbr100 alias vxbgp:NET; ip link set vxlan100 alias vxbgp:NET
//	ip link set vxbr100 group default; ip link set vxlan100 group default
//	ip link set vxlan100 master vxbr100
//	bridge link set dev vxlan100 learning off neigh_suppress on
//	ip addr replace GATEWAY dev vxbr100
//	ip link set vxlan100 up; ip link set vxbr100 up
//	sysctl -w net.ipv4.conf.vxbr100.proxy_arp=0|1 ...  (setProxyARP)
//	sysctl -w net.ipv6.conf.all.forwarding=1; answer NS on vxbr100  (setNDProxy)
//
// A device without vxlan device (routed mode) is the bridge alone; a vxlan
// device of ours with its VNI is deleted (removeVXLAN).
//
// Setting a device keeps the entries on it, as the overlay model (and
// overlaytest) has it. Some changes make the kernel drop entries without
// telling anyone: recreating the vxlan device (its VNI, local address, port
// and underlay cannot change in place) drops its FDB, and the bridge drops
// its neighbours when its MAC changes, when it loses its last IPv4 address
// or its carrier. The keeper saves what such a change would drop, and
// setDevice puts it back at the end.
func (d *Dataplane) setDevice(dev overlay.Device) error {
	if dev.Bridge == "" {
		return fmt.Errorf("device vni %d: a bridge name is required", dev.VNI)
	}
	if dev.Routed() && dev.Bridge != overlay.BridgeName(dev.VNI) {
		// Without a vxlan device to carry the VNI, the bridge's name is
		// what Observe finds the network by.
		return fmt.Errorf("device vni %d: the bridge of a network without vxlan device must be named %s, not %s",
			dev.VNI, overlay.BridgeName(dev.VNI), dev.Bridge)
	}
	if err := checkNDProxy(dev); err != nil {
		return err
	}
	// Refuse before changing anything if either name is taken by a link
	// that is not ours.
	for _, name := range []string{dev.Bridge, dev.VXLAN} {
		if name == "" {
			continue
		}
		if _, err := d.managedLink(name); err != nil {
			return err
		}
	}
	keep := &keeper{d: d}
	br, err := d.ensureBridge(dev, keep)
	if err != nil {
		return err
	}
	if dev.Routed() {
		return d.setRoutedDevice(dev, br, keep)
	}
	vx, err := d.ensureVXLAN(dev, br, keep)
	if err != nil {
		return err
	}
	if vx.Attrs().MasterIndex != br.Attrs().Index {
		// ip link set VXLAN master BRIDGE
		if err := d.h.LinkSetMasterByIndex(vx, br.Attrs().Index); err != nil {
			return fmt.Errorf("set link %s master %s: %w", dev.VXLAN, dev.Bridge, err)
		}
	}
	// The bridge must not learn remote MACs from the tunnel (BGP says where
	// they are), and must answer ARP/ND for remote IPs itself instead of
	// flooding the requests to every VTEP.
	// bridge link set dev VXLAN learning off
	if err := d.h.LinkSetLearning(vx, false); err != nil {
		return fmt.Errorf("set bridge port %s learning off: %w", dev.VXLAN, err)
	}
	// bridge link set dev VXLAN neigh_suppress on
	if err := d.h.LinkSetBrNeighSuppress(vx, true); err != nil {
		return fmt.Errorf("set bridge port %s neigh_suppress on: %w", dev.VXLAN, err)
	}
	if err := d.setGateway(br, gateways(dev), keep); err != nil {
		return err
	}
	if err := d.setUp(vx, br); err != nil {
		return err
	}
	if err := d.setProxyARP(br, dev.ProxyARP); err != nil {
		return err
	}
	if err := d.setNDProxy(dev, br); err != nil {
		return err
	}
	ref := linkRef{
		vxlan: vx.Attrs().Index, bridge: br.Attrs().Index, vxlanName: dev.VXLAN, bridgeName: dev.Bridge,
		mac: linkMAC(br), proxyARP: dev.ProxyARP,
	}
	d.remember(dev.VNI, ref)
	return keep.restore(dev, ref)
}

// setRoutedDevice completes a network without vxlan device: its bridge,
// without any vxlan device of ours for the VNI, with its gateway, up, with
// its proxy ARP.
func (d *Dataplane) setRoutedDevice(dev overlay.Device, br netlink.Link, keep *keeper) error {
	removed, err := d.removeVXLAN(dev, br, keep)
	if err != nil {
		return err
	}
	if removed {
		// A bridge whose MTU was never set on its own follows its ports'
		// smallest, and with no port left it went back to 1500.
		if br, err = d.h.LinkByIndex(br.Attrs().Index); err != nil {
			return fmt.Errorf("get link %s: %w", dev.Bridge, err)
		}
		if err := d.setCommon(br, dev); err != nil {
			return err
		}
	}
	if err := d.setGateway(br, gateways(dev), keep); err != nil {
		return err
	}
	if err := d.setUp(br); err != nil {
		return err
	}
	// Proxy ARP and ND before the pods are told to use the gateway (below).
	if err := d.setProxyARP(br, dev.ProxyARP); err != nil {
		return err
	}
	if err := d.setNDProxy(dev, br); err != nil {
		return err
	}
	ref := linkRef{bridge: br.Attrs().Index, bridgeName: dev.Bridge, mac: linkMAC(br), proxyARP: dev.ProxyARP}
	d.remember(dev.VNI, ref)
	if removed && dev.ProxyARP {
		// The L2 path to the remote pods is gone: pods that cached their
		// MACs must use the gateway now, not when the neighbours of the
		// remote pods are deleted (if ever: they may stay wanted).
		ips := make([]netip.Addr, 0, len(keep.neighs))
		for _, n := range keep.neighs {
			ips = append(ips, addrFrom(n.IP))
		}
		d.announce(ref, ips...)
	}
	return keep.restore(dev, ref)
}

// removeVXLAN deletes the vxlan devices of ours that carry the network's
// VNI or are ports of its bridge, with their FDB, saving the bridge's
// neighbours first: the bridge loses its carrier with its last port, and
// its neighbours with it. It reports whether it deleted anything.
//
//	ip link del VXLAN
func (d *Dataplane) removeVXLAN(dev overlay.Device, br netlink.Link, keep *keeper) (bool, error) {
	links, err := dump("links", d.h.LinkList)
	if err != nil {
		return false, err
	}
	removed := false
	for _, l := range links {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || !owned(l) || (uint32(vx.VxlanId) != dev.VNI && vx.MasterIndex != br.Attrs().Index) {
			continue
		}
		if err := keep.saveNeighs(br.Attrs().Index); err != nil {
			return removed, err
		}
		if err := d.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return removed, fmt.Errorf("del link %s: %w", vx.Name, err)
		}
		d.forget(dev.VNI)
		removed = true
		d.log.Info("deleted vxlan device: network without vxlan device", "dev", vx.Name, "vni", dev.VNI)
	}
	return removed, nil
}

// setUp sets the links up that are not.
//
//	ip link set NAME up
func (d *Dataplane) setUp(links ...netlink.Link) error {
	for _, l := range links {
		if l.Attrs().Flags&net.FlagUp != 0 {
			continue
		}
		if err := d.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set link %s up: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

// ensureBridge returns the network's bridge, created if missing, with its
// alias, MTU and gateway MAC set.
func (d *Dataplane) ensureBridge(dev overlay.Device, keep *keeper) (netlink.Link, error) {
	br, err := d.managedLink(dev.Bridge)
	if err != nil {
		return nil, err
	}
	if br != nil && br.Type() != "bridge" {
		// Ours, yet not a bridge: only a bug could have made it. Replace it.
		d.log.Warn("recreating device of the wrong type", "dev", dev.Bridge, "vni", dev.VNI, "type", br.Type())
		// ip link del NAME
		if err := d.h.LinkDel(br); err != nil {
			return nil, fmt.Errorf("del link %s: %w", dev.Bridge, err)
		}
		br = nil
	}
	if br == nil {
		// ip link add NAME address GWMAC mtu MTU group NEWLINKGROUP type bridge
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.Group = dev.Bridge, dev.MTU, newLinkGroup
		if !dev.GatewayMAC.IsZero() {
			attrs.HardwareAddr = dev.GatewayMAC.HardwareAddr()
		}
		if err := d.h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return nil, fmt.Errorf("add link %s type bridge: %w", dev.Bridge, err)
		}
		d.log.Info("created bridge", "dev", dev.Bridge, "vni", dev.VNI)
		if err := d.added(dev.Bridge); err != nil {
			return nil, err
		}
		if br, err = d.h.LinkByName(dev.Bridge); err != nil {
			return nil, fmt.Errorf("get link %s: %w", dev.Bridge, err)
		}
	}
	if !dev.GatewayMAC.IsZero() && !bytes.Equal(br.Attrs().HardwareAddr, dev.GatewayMAC[:]) {
		if err := keep.saveNeighs(br.Attrs().Index); err != nil {
			return nil, err
		}
		// ip link set NAME address GWMAC
		if err := d.h.LinkSetHardwareAddr(br, dev.GatewayMAC.HardwareAddr()); err != nil {
			return nil, fmt.Errorf("set link %s address %s: %w", dev.Bridge, dev.GatewayMAC, err)
		}
		// The link's attributes are what the kernel said before: the
		// gratuitous ARPs and the ND responder's answers must come from
		// the new MAC.
		br.Attrs().HardwareAddr = dev.GatewayMAC.HardwareAddr()
	}
	return br, d.setCommon(br, dev)
}

// added runs the tests' linkAdded hook, if any.
func (d *Dataplane) added(name string) error {
	if d.linkAdded == nil {
		return nil
	}
	return d.linkAdded(name)
}

// setCommon sets what both links of a network share: alias and MTU; a
// link just created leaves newLinkGroup once it has the alias (in this
// order: it is ours all along).
func (d *Dataplane) setCommon(l netlink.Link, dev overlay.Device) error {
	a := l.Attrs()
	if want := alias(dev.Network); a.Alias != want {
		// ip link set NAME alias vxbgp:NET
		if err := d.h.LinkSetAlias(l, want); err != nil {
			return fmt.Errorf("set link %s alias %s: %w", a.Name, want, err)
		}
	}
	if a.Group == newLinkGroup {
		// ip link set NAME group default
		if err := d.h.LinkSetGroup(l, 0); err != nil {
			return fmt.Errorf("set link %s group default: %w", a.Name, err)
		}
	}
	if dev.MTU > 0 && a.MTU != dev.MTU {
		// ip link set NAME mtu MTU
		if err := d.h.LinkSetMTU(l, dev.MTU); err != nil {
			return fmt.Errorf("set link %s mtu %d: %w", a.Name, dev.MTU, err)
		}
	}
	return nil
}

// ensureVXLAN returns the network's vxlan device, created if missing and
// recreated if it differs in what cannot change in place.
func (d *Dataplane) ensureVXLAN(dev overlay.Device, br netlink.Link, keep *keeper) (netlink.Link, error) {
	vx, err := d.managedLink(dev.VXLAN)
	if err != nil {
		return nil, err
	}
	underlay := 0
	if dev.Underlay != "" {
		u, err := d.h.LinkByName(dev.Underlay)
		if err != nil {
			return nil, fmt.Errorf("get underlay link %s: %w", dev.Underlay, err)
		}
		underlay = u.Attrs().Index
	}
	want := &netlink.Vxlan{
		LinkAttrs:    netlink.NewLinkAttrs(),
		VxlanId:      int(dev.VNI),
		VtepDevIndex: underlay,
		Port:         int(dev.Port),
		Learning:     false, // nolearning: remote MACs come from BGP only
	}
	// LinkAttrs' Group: the link group; Vxlan's own Group is its multicast group.
	want.Name, want.MTU, want.LinkAttrs.Group = dev.VXLAN, dev.MTU, newLinkGroup
	if dev.VTEP.IsValid() {
		want.SrcAddr = dev.VTEP.AsSlice()
	}
	if vx != nil {
		if why := vxlanDiffers(vx, want); why != "" {
			d.log.Info("recreating vxlan device", "dev", dev.VXLAN, "vni", dev.VNI, "why", why)
			// Its FDB goes with it; the bridge's neighbours go with the
			// bridge's carrier when it was the only port.
			if err := keep.saveFDB(vx.Attrs().Index); err != nil {
				return nil, err
			}
			if err := keep.saveNeighs(br.Attrs().Index); err != nil {
				return nil, err
			}
			// ip link del NAME
			if err := d.h.LinkDel(vx); err != nil {
				return nil, fmt.Errorf("del link %s: %w", dev.VXLAN, err)
			}
			d.forget(dev.VNI)
			vx = nil
		}
	}
	if vx == nil {
		// ip link add NAME mtu MTU group NEWLINKGROUP type vxlan id VNI local VTEP dev UNDERLAY dstport PORT nolearning
		if err := d.h.LinkAdd(want); err != nil {
			return nil, fmt.Errorf("add link %s type vxlan id %d local %s dev %s dstport %d: %w",
				dev.VXLAN, dev.VNI, dev.VTEP, dev.Underlay, dev.Port, err)
		}
		d.log.Info("created vxlan device", "dev", dev.VXLAN, "vni", dev.VNI, "vtep", dev.VTEP)
		if err := d.added(dev.VXLAN); err != nil {
			return nil, err
		}
		if vx, err = d.h.LinkByName(dev.VXLAN); err != nil {
			return nil, fmt.Errorf("get link %s: %w", dev.VXLAN, err)
		}
	}
	return vx, d.setCommon(vx, dev)
}

// vxlanDiffers says why an existing link cannot serve as want ("" if it can).
func vxlanDiffers(l netlink.Link, want *netlink.Vxlan) string {
	vx, ok := l.(*netlink.Vxlan)
	switch {
	case !ok:
		return "type " + l.Type()
	case vx.VxlanId != want.VxlanId:
		return fmt.Sprintf("id %d", vx.VxlanId)
	case addrFrom(vx.SrcAddr) != addrFrom(want.SrcAddr):
		return fmt.Sprintf("local %s", vx.SrcAddr)
	case want.Port != 0 && vx.Port != want.Port:
		return fmt.Sprintf("dstport %d", vx.Port)
	case vx.VtepDevIndex != want.VtepDevIndex:
		return fmt.Sprintf("underlay ifindex %d", vx.VtepDevIndex)
	case vx.Learning:
		return "learning on"
	}
	return ""
}

// delDevice removes one network's vxlan device, then its bridge (the
// kernel removes the entries on them with them). Links without our alias
// are left alone; missing ones are already gone.
//
//	ip link del VXLAN; ip link del BRIDGE
func (d *Dataplane) delDevice(dev overlay.Device) error {
	d.forget(dev.VNI)
	d.nd.Stop(dev.Bridge)
	for _, name := range []string{dev.VXLAN, dev.Bridge} {
		if name == "" {
			continue
		}
		l, err := d.managedLink(name)
		if errors.Is(err, ErrNotManaged) {
			d.log.Warn("not deleting a device we do not manage", "dev", name, "vni", dev.VNI)
			continue
		}
		if err != nil {
			return err
		}
		if l == nil {
			continue
		}
		if err := d.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("del link %s: %w", name, err)
		}
		d.log.Info("deleted device", "dev", name, "vni", dev.VNI)
	}
	return nil
}
