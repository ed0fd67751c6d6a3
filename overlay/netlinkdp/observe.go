package netlinkdp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// Observe implements overlay.Dataplane: it returns the devices carrying our
// alias, the entries on them, and our routes.
//
//	ip -d link show; ip addr show dev BRIDGE; sysctl net.ipv4.conf.BRIDGE.proxy_arp ...
//	sysctl net.ipv6.conf.all.forwarding (and what the ND responder serves)
//	bridge fdb show; ip neigh show; ip -6 neigh show
//	ip route show proto 201; ip -6 route show proto 201
//
// State cannot express every way a device can drift (a link set down, port
// learning turned on, neigh_suppress turned off, vxlan learning on, bridge
// and vxlan MTUs that differ), so Observe reports such a device with MTU 0:
// Diff then sees a changed device and Apply re-asserts all of it.
//
// A unicast MAC whose two entries are not both present (the vxlan "self"
// entry with its dst, and the bridge "master" entry) is reported with an
// invalid VTEP, for the same reason: Diff sets it again, or deletes it.
func (d *Dataplane) Observe(ctx context.Context) (overlay.State, error) {
	st := overlay.NewState()
	links, err := dump("links", d.h.LinkList)
	if err != nil {
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	obs, err := d.observeDevices(links)
	if err != nil {
		return st, err
	}
	for _, dev := range obs.devices {
		st.AddDevice(dev)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if err := d.observeFDB(st, obs); err != nil {
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if err := d.observeNeigh(st, obs); err != nil {
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if err := d.observeRoutes(st); err != nil {
		return st, err
	}
	if err := d.observeNAT(&st); err != nil {
		return st, err
	}
	d.setLinks(obs.refs)
	return st, nil
}

// observed is what Observe learnt about our links.
type observed struct {
	devices   map[uint32]overlay.Device
	refs      map[uint32]linkRef
	vxlanVNI  map[int]uint32 // vxlan ifindex -> VNI
	bridgeVNI map[int]uint32 // bridge ifindex -> VNI
}

func (d *Dataplane) observeDevices(links []netlink.Link) (observed, error) {
	obs := observed{
		devices:   map[uint32]overlay.Device{},
		refs:      map[uint32]linkRef{},
		vxlanVNI:  map[int]uint32{},
		bridgeVNI: map[int]uint32{},
	}
	byIndex := make(map[int]netlink.Link, len(links))
	for _, l := range links {
		byIndex[l.Attrs().Index] = l
	}
	// vxlan devices first: they carry the VNI.
	for _, l := range links {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || !owned(l) {
			continue
		}
		vni := uint32(vx.VxlanId)
		if _, dup := obs.devices[vni]; dup {
			d.log.Warn("two vxlan devices of ours with one vni, ignoring one", "vni", vni, "dev", vx.Name)
			continue
		}
		dev := overlay.Device{
			VNI:     vni,
			Network: strings.TrimPrefix(vx.Alias, AliasPrefix),
			VXLAN:   vx.Name,
			VTEP:    addrFrom(vx.SrcAddr),
			Port:    uint16(vx.Port),
			MTU:     vx.MTU,
		}
		if u, ok := byIndex[vx.VtepDevIndex]; ok {
			dev.Underlay = u.Attrs().Name
		}
		drift := d.vxlanDrift(vx)
		ref := linkRef{vxlan: vx.Index, vxlanName: vx.Name}
		if br, ok := byIndex[vx.MasterIndex]; ok && br.Type() == "bridge" && owned(br) {
			ref.bridge, ref.bridgeName, ref.mac = br.Attrs().Index, br.Attrs().Name, linkMAC(br)
			if err := d.fillBridge(&dev, br); err != nil {
				return obs, err
			}
			if br.Attrs().MTU != vx.MTU {
				drift = append(drift, "bridge and vxlan mtu differ")
			}
			if br.Attrs().Alias != vx.Alias {
				drift = append(drift, "bridge and vxlan alias differ")
			}
			if br.Attrs().Flags&net.FlagUp == 0 {
				drift = append(drift, "bridge down")
			}
			obs.bridgeVNI[ref.bridge] = vni
		}
		if len(drift) > 0 {
			d.log.Info("device drifted, will re-apply", "vni", vni, "dev", vx.Name, "drift", strings.Join(drift, ", "))
			dev.MTU = 0
		}
		obs.devices[vni] = dev
		obs.refs[vni] = ref
		obs.vxlanVNI[vx.Index] = vni
	}
	// A bridge of ours without vxlan device is a network of routed mode, or a
	// half-built or half-deleted one of overlay mode: it is reported with
	// VXLAN "", so that the reconciler finds it in sync, or completes or
	// removes it. Its VNI comes from its name, as overlay.BridgeName made it.
	for _, l := range links {
		if l.Type() != "bridge" || !owned(l) {
			continue
		}
		if _, ok := obs.bridgeVNI[l.Attrs().Index]; ok {
			continue
		}
		n, ok := strings.CutPrefix(l.Attrs().Name, "vxbr")
		v, err := strconv.ParseUint(n, 10, 32)
		if !ok || err != nil || overlay.BridgeName(uint32(v)) != l.Attrs().Name {
			d.log.Warn("bridge of ours without vxlan device and with a foreign name, ignoring", "dev", l.Attrs().Name)
			continue
		}
		vni := uint32(v)
		if _, taken := obs.devices[vni]; taken {
			continue
		}
		dev := overlay.Device{VNI: vni, Network: strings.TrimPrefix(l.Attrs().Alias, AliasPrefix), Bridge: l.Attrs().Name}
		if err := d.fillBridge(&dev, l); err != nil {
			return obs, err
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			d.log.Info("device drifted, will re-apply", "vni", vni, "dev", l.Attrs().Name, "drift", "bridge down")
			dev.MTU = 0
		}
		obs.devices[vni] = dev
		obs.refs[vni] = linkRef{bridge: l.Attrs().Index, bridgeName: l.Attrs().Name, mac: linkMAC(l)}
		obs.bridgeVNI[l.Attrs().Index] = vni
	}
	d.observeProxyARP(obs)
	d.observeNDProxy(obs)
	return obs, nil
}

// observeProxyARP reads every observed bridge's proxy ARP sysctls into its
// device and link reference.
func (d *Dataplane) observeProxyARP(obs observed) {
	var bridges []string
	for _, dev := range obs.devices {
		if dev.Bridge != "" {
			bridges = append(bridges, dev.Bridge)
		}
	}
	on := d.proxyARPOf(bridges)
	for vni, dev := range obs.devices {
		if dev.Bridge == "" || !on[dev.Bridge] {
			continue
		}
		dev.ProxyARP = true
		obs.devices[vni] = dev
		if ref, ok := obs.refs[vni]; ok && ref.bridge != 0 {
			ref.proxyARP = true
			obs.refs[vni] = ref
		}
	}
}

// vxlanDrift lists what is wrong with one of our vxlan devices beyond what
// Device holds.
func (d *Dataplane) vxlanDrift(vx *netlink.Vxlan) []string {
	var drift []string
	if vx.Learning {
		drift = append(drift, "vxlan learning on")
	}
	if vx.Flags&net.FlagUp == 0 {
		drift = append(drift, "vxlan down")
	}
	if vx.MasterIndex == 0 {
		return append(drift, "vxlan not enslaved")
	}
	// bridge -d link show dev VXLAN
	pi, err := dump("protinfo", func() (netlink.Protinfo, error) { return d.h.LinkGetProtinfo(vx) })
	if err != nil {
		return append(drift, fmt.Sprintf("bridge port flags unknown: %v", err))
	}
	if pi.Learning {
		drift = append(drift, "port learning on")
	}
	if !pi.NeighSuppress {
		drift = append(drift, "port neigh_suppress off")
	}
	return drift
}

// fillBridge adds the bridge's part to dev: name, gateway MAC and address.
func (d *Dataplane) fillBridge(dev *overlay.Device, br netlink.Link) error {
	a := br.Attrs()
	dev.Bridge = a.Name
	if len(a.HardwareAddr) == 6 {
		dev.GatewayMAC = overlay.MAC(a.HardwareAddr)
	}
	if dev.VXLAN == "" {
		dev.MTU = a.MTU
	}
	addrs, err := dump("addresses of "+a.Name, func() ([]netlink.Addr, error) { return d.h.AddrList(br, netlink.FAMILY_ALL) })
	if err != nil {
		return err
	}
	dev.Gateway, dev.Gateway6 = gatewayOf(addrs)
	return nil
}

// gatewayOf picks the bridge's gateway addresses: its first global IPv4
// address and its first global IPv6 one, or, without IPv4 address, the
// IPv6 one alone as gw (as overlay.State.AddDevice has it).
func gatewayOf(addrs []netlink.Addr) (gw, gw6 netip.Prefix) {
	for _, a := range addrs {
		p, ok := prefixOf(a)
		if !ok || a.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		if p.Addr().Is4() && !gw.IsValid() {
			gw = p
		}
		if p.Addr().Is6() && !gw6.IsValid() {
			gw6 = p
		}
	}
	if !gw.IsValid() {
		return gw6, netip.Prefix{}
	}
	return gw, gw6
}

func prefixOf(a netlink.Addr) (netip.Prefix, bool) {
	if a.IPNet == nil {
		return netip.Prefix{}, false
	}
	ip := addrFrom(a.IP)
	ones, _ := a.Mask.Size()
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip, ones), true
}

// addrFrom converts a net.IP (4 or 16 bytes, IPv4 possibly mapped) to a
// netip.Addr; nil gives the invalid Addr.
func addrFrom(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// observeFDB reads the unicast and flood entries on our vxlan devices.
//
//	bridge fdb show
func (d *Dataplane) observeFDB(st overlay.State, obs observed) error {
	entries, err := dump("fdb", func() ([]netlink.Neigh, error) { return d.h.NeighList(0, unix.AF_BRIDGE) })
	if err != nil {
		return err
	}
	// Pair each unicast MAC's "self" entry (vxlan, with dst) with its
	// "master" entry (bridge, pointing at the vxlan port).
	type half struct {
		self   bool
		master bool
		vtep   netip.Addr
		remote int // number of "self" remotes: a unicast MAC of ours has one
	}
	// Halves by value: a pointer each was an allocation per MAC of a
	// 100,000-entry table on every resync.
	macs := map[overlay.FDBKey]half{}
	for _, e := range entries {
		vni, ok := obs.vxlanVNI[e.LinkIndex]
		if !ok || len(e.HardwareAddr) != 6 {
			continue // not on one of our vxlan devices
		}
		mac := overlay.MAC(e.HardwareAddr)
		vtep := addrFrom(e.IP)
		switch {
		case e.Flags&netlink.NTF_SELF != 0 && mac.IsZero() && vtep.IsValid():
			st.AddFlood(overlay.Flood{VNI: vni, VTEP: vtep})
		case mac.IsZero() || e.Flags&netlink.NTF_EXT_LEARNED == 0:
			// The vxlan's own permanent local entry, or something an
			// operator added by hand: not ours.
		case e.Flags&netlink.NTF_SELF != 0 && vtep.IsValid():
			k := overlay.FDBKey{VNI: vni, MAC: mac}
			h := macs[k]
			h.self, h.vtep = true, vtep
			h.remote++
			macs[k] = h
		case e.Flags&netlink.NTF_SELF == 0 && (e.MasterIndex != 0 || e.Flags&netlink.NTF_MASTER != 0):
			// The bridge's entries come without NTF_MASTER in ndm_flags;
			// NDA_MASTER names the bridge.
			k := overlay.FDBKey{VNI: vni, MAC: mac}
			h := macs[k]
			h.master = true
			macs[k] = h
		}
	}
	for k, h := range macs {
		f := overlay.FDB{VNI: k.VNI, MAC: k.MAC, VTEP: h.vtep}
		if !h.self || !h.master || h.remote != 1 {
			f.VTEP = netip.Addr{} // incomplete: have it set again (or deleted)
		}
		st.AddFDB(f)
	}
	return nil
}

// observeNeigh reads the extern_learn neighbours on our bridges.
//
//	ip neigh show nud noarp; ip -6 neigh show nud noarp
func (d *Dataplane) observeNeigh(st overlay.State, obs observed) error {
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		entries, err := dump("neighbours", func() ([]netlink.Neigh, error) { return d.h.NeighList(0, fam) })
		if err != nil {
			return err
		}
		for _, e := range entries {
			vni, ok := obs.bridgeVNI[e.LinkIndex]
			if !ok || e.Flags&netlink.NTF_EXT_LEARNED == 0 || len(e.HardwareAddr) != 6 {
				continue
			}
			ip := addrFrom(e.IP)
			if !ip.IsValid() {
				continue
			}
			st.AddNeigh(overlay.Neigh{VNI: vni, IP: ip, MAC: overlay.MAC(e.HardwareAddr)})
		}
	}
	return nil
}
