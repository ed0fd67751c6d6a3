package plugin

import (
	"context"
	"fmt"
	"slices"

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
	ips, err := d.Store.Allocate(n.Name, n.Blocks(), n.Gateways(), owner)
	if err != nil {
		return nil, fmt.Errorf("allocate addresses for container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	success := false
	defer func() {
		if success {
			return
		}
		if err := d.Store.Release(at.ContainerID, at.IfName); err != nil {
			d.log().Warn("roll back addresses", "ip", ips, "err", err)
		}
	}()
	addrs, missing := podAddrs(n, ips)
	if len(missing) > 0 {
		return nil, fmt.Errorf("allocate addresses for container %s interface %s: got %v, none in subnet %s of network %s",
			at.ContainerID, at.IfName, ips, missing[0].Subnet, n.Name)
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
	// Before the link goes up, so that it comes up with IPv6 or without.
	// Without is an economy, not a need: the pod works either way.
	if slices.ContainsFunc(addrs, podAddr.is6) {
		if err := setPodIPv6(podNS, at.IfName, true); err != nil {
			return nil, err
		}
	} else if err := setPodIPv6(podNS, at.IfName, false); err != nil {
		d.log().Warn("pod keeps IPv6 on its IPv4-only interface", "dev", at.IfName, "err", err)
	}
	if err := configurePod(pod, podLink, addrs); err != nil {
		return nil, err
	}

	rec := at.record(n.Name, ips, overlay.MAC(podLink.Attrs().HardwareAddr), hostIf)
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

	resIPs, routes := resultIPs(addrs, 1) // the pod interface, after the host's
	return &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: hostIf, Mac: hostLink.Attrs().HardwareAddr.String()},
			{Name: at.IfName, Mac: rec.MAC.String(), Sandbox: at.Netns},
		},
		IPs:    resIPs,
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
