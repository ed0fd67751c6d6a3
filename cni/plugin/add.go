package plugin

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// Add attaches the pod interface at to network n (see the package doc)
// and returns the CNI result. mtu, when not 0, overrides the network's MTU.
// Whatever it did is undone when it fails.
func Add(ctx context.Context, d Deps, at Attachment, n ipam.NetworkInfo, mtu int) (*types100.Result, error) {
	bridge, err := lookupBridge(d.Host, n)
	if err != nil {
		return nil, err
	}
	if mtu == 0 {
		mtu = n.MTU
	}
	if mtu == 0 {
		mtu = bridge.Attrs().MTU
	}
	podNS, err := netns.GetFromPath(at.Netns)
	if err != nil {
		return nil, withCode(types.ErrInvalidNetNS, fmt.Errorf("open netns %q: %w", at.Netns, err))
	}
	defer podNS.Close()
	pod, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return nil, fmt.Errorf("netlink in netns %s: %w", at.Netns, err)
	}
	defer pod.Close()

	owner := ipam.Owner{ContainerID: at.ContainerID, IfName: at.IfName, CNINetwork: at.CNINetwork}
	ip, err := d.Store.Allocate(n.Name, n.Block, []netip.Addr{n.Gateway}, owner)
	if err != nil {
		return nil, fmt.Errorf("allocate address for container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	success := false
	defer func() {
		if success {
			return
		}
		if err := d.Store.Release(at.ContainerID, at.IfName); err != nil {
			d.log().Warn("roll back address", "ip", ip, "err", err)
		}
	}()
	var ip6 netip.Addr
	if n.DualStack() {
		if ip6, err = d.Store.Allocate6(n.Name, n.Block6, []netip.Addr{n.Gateway6}, owner); err != nil {
			return nil, fmt.Errorf("allocate IPv6 address for container %s interface %s: %w", at.ContainerID, at.IfName, err)
		}
	}

	hostIf := HostVethName(at.ContainerID, at.IfName)
	defer func() {
		if success {
			return
		}
		// Deleting the host end deletes the pod end too.
		if err := deleteLink(d.Host, hostIf); err != nil {
			d.log().Warn("roll back veth", "dev", hostIf, "err", err)
		}
	}()
	hostLink, podLink, err := createVeth(d.Host, pod, podNS, hostIf, at.IfName, mtu)
	if err != nil {
		return nil, err
	}
	if err := attachHost(d.Host, hostLink, bridge); err != nil {
		return nil, err
	}
	addr := &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(n.Subnet.Bits(), ip.BitLen())}
	gw := net.IP(n.Gateway.AsSlice())
	if ip6.IsValid() {
		// Before the link goes up, so that it comes up with IPv6.
		if err := enableIPv6(podNS, at.IfName); err != nil {
			return nil, err
		}
	}
	if err := configurePod(pod, podLink, addr, gw); err != nil {
		return nil, err
	}
	podIdx := 1
	ips := []*types100.IPConfig{{Interface: &podIdx, Address: *addr, Gateway: gw}}
	routes := []*types.Route{{Dst: *defaultDst(gw), GW: gw}}
	if ip6.IsValid() {
		addr6 := &net.IPNet{IP: ip6.AsSlice(), Mask: net.CIDRMask(n.Subnet6.Bits(), 128)}
		gw6 := net.IP(n.Gateway6.AsSlice())
		if err := configurePod6(pod, podLink, addr6, gw6); err != nil {
			return nil, err
		}
		ips = append(ips, &types100.IPConfig{Interface: &podIdx, Address: *addr6, Gateway: gw6})
		routes = append(routes, &types.Route{Dst: *defaultDst(gw6), GW: gw6})
	}

	rec := ipam.Record{
		ContainerID: at.ContainerID,
		IfName:      at.IfName,
		CNINetwork:  at.CNINetwork,
		Network:     n.Name,
		IP:          ip,
		IP6:         ip6,
		MAC:         overlay.MAC(podLink.Attrs().HardwareAddr),
		HostIf:      hostIf,
		Netns:       at.Netns,
	}
	if err := d.Store.Update(rec); err != nil {
		return nil, fmt.Errorf("record endpoint of container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	success = true

	actx, cancel := d.agentContext(ctx)
	defer cancel()
	if err := d.Agent.AddEndpoint(actx, localapi.FromEndpoint(rec.Endpoint())); err != nil {
		// Not fatal: the agent reads the store when it (re)starts and
		// periodically, so it learns of this endpoint anyway.
		d.log().Warn("announce endpoint to vxbgpd; it will pick it up from the store", "ips", rec.Endpoint().IPs, "mac", rec.MAC, "err", err)
	}

	return &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: hostIf, Mac: hostLink.Attrs().HardwareAddr.String()},
			{Name: at.IfName, Mac: rec.MAC.String(), Sandbox: at.Netns},
		},
		IPs:    ips,
		Routes: routes,
	}, nil
}

// lookupBridge finds the network's bridge in the host. Its absence means
// the agent has not set the network up (yet): the runtime should retry.
func lookupBridge(host *netlink.Handle, n ipam.NetworkInfo) (netlink.Link, error) {
	link, err := host.LinkByName(n.Bridge)
	if isNotFound(err) {
		return nil, withCode(types.ErrTryAgainLater, fmt.Errorf("bridge %s of network %s does not exist: vxbgpd has not set the network up yet (is it running?)", n.Bridge, n.Name))
	}
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s of network %s: %w", n.Bridge, n.Name, err)
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("bridge %s of network %s: is a %s device, not a bridge", n.Bridge, n.Name, link.Type())
	}
	return link, nil
}
