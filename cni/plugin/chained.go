package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// AddChained is ADD with "chained": true: a plugin earlier in the chain
// (ptp, bridge, ...) made the pod interface at.IfName and gave it its
// addresses; prev is its result. AddChained records the interface's MAC
// and those of its addresses that are inside network n's subnet in the
// store (marked chained, so DEL leaves the interface to its maker), then
// announces the endpoint to the agent. It changes nothing in the kernel.
//
// Only addresses inside the subnet are taken: every pod of the network
// treats the subnet as on-link, so that is what the overlay can make
// reachable. An address that the store already holds for another pod
// (the previous plugin's IPAM overlaps this host's block) fails the ADD
// instead of being given twice.
func AddChained(ctx context.Context, d Deps, at Attachment, n ipam.NetworkInfo, prev types.Result) error {
	if prev == nil {
		return configError("chained", errors.New("true, but there is no prevResult: vxbgp-cni must come after the plugin that creates the interface"))
	}
	res, err := types100.NewResultFromResult(prev)
	if err != nil {
		return configError("prevResult", err)
	}
	pod, hostIf, ips, err := chainedEndpoint(res, at, n)
	if err != nil {
		return err
	}
	success := false
	defer func() {
		if success {
			return
		}
		if err := d.Store.Release(at.ContainerID, at.IfName); err != nil {
			d.log().Warn("roll back chained endpoint", "container", at.ContainerID, "err", err)
		}
	}()
	mac, err := overlay.ParseMAC(pod.Mac) // checked by chainedEndpoint
	if err != nil {
		return configError("prevResult", fmt.Errorf("interface %s has no usable MAC %q", at.IfName, pod.Mac))
	}
	var rec ipam.Record
	for _, ip := range ips {
		rec = ipam.Record{
			ContainerID: at.ContainerID,
			IfName:      at.IfName,
			CNINetwork:  at.CNINetwork,
			Network:     n.Name,
			IP:          ip,
			MAC:         mac,
			HostIf:      hostIf,
			Netns:       at.Netns,
			Chained:     true,
		}
		if err := d.Store.Claim(rec); err != nil {
			return fmt.Errorf("record chained endpoint of container %s interface %s: %w", at.ContainerID, at.IfName, err)
		}
	}
	success = true
	ep := rec.Endpoint()
	ep.IPs = ips
	actx, cancel := d.agentContext(ctx)
	defer cancel()
	if err := d.Agent.AddEndpoint(actx, localapi.FromEndpoint(ep)); err != nil {
		d.log().Warn("announce chained endpoint to vxbgpd; it will pick it up from the store", "mac", ep.MAC, "err", err)
	}
	return nil
}

// chainedEndpoint finds, in the previous plugin's result, the pod
// interface at.IfName, its host-side peer (if listed) and its addresses
// inside n's subnet.
func chainedEndpoint(res *types100.Result, at Attachment, n ipam.NetworkInfo) (*types100.Interface, string, []netip.Addr, error) {
	podIdx := slices.IndexFunc(res.Interfaces, func(i *types100.Interface) bool {
		return i.Name == at.IfName && i.Sandbox != ""
	})
	if podIdx < 0 {
		return nil, "", nil, configError("prevResult", fmt.Errorf("lists no interface %s in a sandbox: the previous plugin did not create it", at.IfName))
	}
	pod := res.Interfaces[podIdx]
	if _, err := overlay.ParseMAC(pod.Mac); err != nil {
		return nil, "", nil, configError("prevResult", fmt.Errorf("interface %s has no usable MAC %q", at.IfName, pod.Mac))
	}
	hostIf := ""
	for _, i := range res.Interfaces {
		if i.Sandbox == "" && i.Name != "" {
			hostIf = i.Name
			break
		}
	}
	var ips []netip.Addr
	var outside []string
	for _, c := range res.IPs {
		if c.Interface != nil && *c.Interface != podIdx {
			continue
		}
		ip, ok := netip.AddrFromSlice(c.Address.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !n.Subnet.Contains(ip) {
			outside = append(outside, ip.String())
			continue
		}
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		return nil, "", nil, configError("prevResult", fmt.Errorf("no address of interface %s is inside subnet %s of network %s (it has: %s)",
			at.IfName, n.Subnet, n.Name, strings.Join(outside, ", ")))
	}
	return pod, hostIf, ips, nil
}

// CheckChained verifies a chained attachment: the store holds it, and the
// pod interface still has the recorded MAC and addresses. The interface's
// routes are its maker's business; that plugin's CHECK verifies them.
func CheckChained(d Deps, at Attachment, n ipam.NetworkInfo, prev *types100.Result) error {
	recs, err := d.Store.List()
	if err != nil {
		return fmt.Errorf("check container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	var mine []ipam.Record
	for _, r := range recs {
		if r.ContainerID == at.ContainerID && r.IfName == at.IfName {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return fmt.Errorf("check container %s interface %s: no chained endpoint recorded in %s", at.ContainerID, at.IfName, n.Name)
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	podNS, err := netns.GetFromPath(at.Netns)
	if err != nil {
		return fmt.Errorf("check container %s interface %s: netns %q: %w", at.ContainerID, at.IfName, at.Netns, err)
	}
	defer podNS.Close()
	pod, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return fmt.Errorf("check container %s interface %s: netlink in netns %s: %w", at.ContainerID, at.IfName, at.Netns, err)
	}
	defer pod.Close()
	link, err := pod.LinkByName(at.IfName)
	if err != nil {
		return fmt.Errorf("check container %s interface %s: missing in netns %s: %w", at.ContainerID, at.IfName, at.Netns, err)
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return pod.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("check container %s interface %s: list addresses: %w", at.ContainerID, at.IfName, err)
	}
	for _, r := range mine {
		if !r.Chained {
			bad("address %s was allocated by vxbgp-cni, not chained", r.IP)
		}
		if mac := link.Attrs().HardwareAddr.String(); mac != r.MAC.String() {
			bad("interface %s has MAC %s, recorded %s", at.IfName, mac, r.MAC)
		}
		if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IP.Equal(r.IP.AsSlice()) }) {
			bad("address %s missing on %s", r.IP, at.IfName)
		}
		if prev != nil && !slices.ContainsFunc(prev.IPs, func(c *types100.IPConfig) bool { return c.Address.IP.Equal(r.IP.AsSlice()) }) {
			bad("prevResult does not list %s", r.IP)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("check container %s interface %s: %s", at.ContainerID, at.IfName, strings.Join(problems, "; "))
	}
	return nil
}
