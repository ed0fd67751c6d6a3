package netlinkdp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/ndproxy"
)

// sysIPv6Forward lets the host route IPv6 between its bridges and the
// underlay: what it attracts by answering for remote pods.
const sysIPv6Forward = "net/ipv6/conf/all/forwarding"

// checkNDProxy refuses, before anything changes, a proxy ND block the
// bridge cannot serve: one outside its IPv6 subnet, where the responder
// would answer for the host's own pods.
func checkNDProxy(dev overlay.Device) error {
	if !dev.NDProxy.IsValid() {
		return nil
	}
	if gw := dev.IPv6Gateway(); !gw.IsValid() || !dev.NDProxy.Addr().Is6() || !gw.Masked().Contains(dev.NDProxy.Addr()) {
		return fmt.Errorf("device vni %d: proxy_nd %s needs an IPv6 gateway whose subnet holds it, gateway6 is %s", dev.VNI, dev.NDProxy, gw)
	}
	return nil
}

// setNDProxy makes the responder answer, on the bridge, the neighbour
// solicitations for the gateway's subnet outside the device's NDProxy
// block, with IPv6 forwarding on first (an answer attracts traffic the
// host must route); or, without NDProxy, stops answering there.
// Forwarding stays on, as ip_forward does: it is the host's.
//
//	sysctl -w net.ipv6.conf.all.forwarding=1
//	(answer NS on BRIDGE for GATEWAY6's subnet but BLOCK, with GWMAC: package ndproxy)
func (d *Dataplane) setNDProxy(dev overlay.Device, br netlink.Link) error {
	if !dev.NDProxy.IsValid() {
		d.nd.Stop(dev.Bridge)
		return nil
	}
	err := d.inNS(func() error {
		wrote, err := ensureSysctl(sysIPv6Forward, 1)
		if wrote {
			d.log.Info("set sysctl", "sysctl", "net.ipv6.conf.all.forwarding", "value", 1)
		}
		return err
	})
	if err != nil {
		return err
	}
	return d.nd.Serve(ndproxy.Bridge{
		Name: dev.Bridge, Index: br.Attrs().Index, MAC: linkMAC(br),
		Gateway: dev.IPv6Gateway(), Block: dev.NDProxy,
	})
}

// openND opens the responder's socket in our namespace.
func (d *Dataplane) openND() (int, error) {
	fd := -1
	err := d.inNS(func() error {
		var err error
		fd, err = ndproxy.Open()
		return err
	})
	return fd, err
}

// observeNDProxy reports each observed bridge's NDProxy: the block the
// responder serves on it, provided it serves this very link (ifindex and
// MAC) for the gateway the bridge holds, and IPv6 forwarding is on. Any
// other case reads as off, so the reconciler sets the device again, which
// restarts what is missing. A forwarding sysctl that cannot be read counts
// as off too: setting the device then fails, loudly.
//
// A bridge the responder serves that is gone (deleted behind our back)
// stops being served here: with no device left for Diff to delete, no
// Apply would stop it.
func (d *Dataplane) observeNDProxy(obs observed) {
	served := d.nd.Bridges()
	if len(served) == 0 {
		return
	}
	matched := map[string]bool{}
	for vni, dev := range obs.devices {
		b, ok := served[dev.Bridge]
		ref := obs.refs[vni]
		if !ok || b.Index != ref.bridge || b.MAC != ref.mac || b.Gateway != dev.IPv6Gateway() {
			continue
		}
		matched[dev.Bridge] = true
		dev.NDProxy = b.Block
		obs.devices[vni] = dev
	}
	for name, b := range served {
		if !matched[name] && d.bridgeGone(b) {
			d.log.Info("bridge gone behind our back: no longer answering neighbour solicitations on it", "dev", name)
			d.nd.Stop(name)
		}
	}
	if len(matched) == 0 {
		return
	}
	fwd := 0
	err := d.inNS(func() error {
		var err error
		fwd, err = readSysctl(sysIPv6Forward)
		return err
	})
	if err != nil {
		d.log.Warn("cannot read ipv6 forwarding, taking proxy nd as off", "err", err)
	}
	if fwd == 0 {
		for vni, dev := range obs.devices {
			if matched[dev.Bridge] {
				dev.NDProxy = netip.Prefix{}
				obs.devices[vni] = dev
			}
		}
	}
}

// bridgeGone reports whether the served bridge b no longer exists as a
// link of ours. It asks the kernel again rather than trusting the dump:
// a bridge created since (by an Apply running meanwhile) is not gone.
//
//	ip link show index IFINDEX
func (d *Dataplane) bridgeGone(b ndproxy.Bridge) bool {
	l, err := d.h.LinkByIndex(b.Index)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return true
	}
	return err == nil && (l.Attrs().Name != b.Name || !owned(l))
}
