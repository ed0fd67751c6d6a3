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
// reachable. It is the first pool's subnet, the IPv4 one of a dual-stack
// network, as the README documents: an IPv6 address beside it is left
// out, since the agent's host routes for chained pods are not verified
// dual-stack. An address that the store already holds for another pod
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
	rec := at.record(n.Name, ips, mac, hostIf)
	rec.Chained = true
	if err := d.Store.Claim(rec); err != nil {
		return fmt.Errorf("record chained endpoint of container %s interface %s: %w", at.ContainerID, at.IfName, err)
	}
	success = true
	ep := rec.Endpoint()
	actx, cancel := d.agentContext(ctx)
	defer cancel()
	if err := d.Agent.AddEndpoint(actx, localapi.FromEndpoint(ep)); err != nil {
		d.log().Warn("announce chained endpoint to vxbgpd; it will pick it up from the store", "mac", ep.MAC, "err", err)
	}
	return nil
}

// chainedEndpoint finds, in the previous plugin's result, the pod
// interface at.IfName, its host-side peer (if listed) and its addresses
// inside n's first subnet, sorted as the store keeps them.
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
	var subnet netip.Prefix // the first pool's (see AddChained); none matches nothing
	if len(n.Pools) > 0 {
		subnet = n.Pools[0].Subnet
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
		if !subnet.Contains(ip) {
			outside = append(outside, ip.String())
			continue
		}
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		return nil, "", nil, configError("prevResult", fmt.Errorf("no address of interface %s is inside subnet %s of network %s (it has: %s)",
			at.IfName, subnet, n.Name, strings.Join(outside, ", ")))
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return pod, hostIf, ips, nil
}

// CheckChained verifies a chained attachment: the store holds it, and the
// pod interface still has the recorded MAC and addresses. The interface's
// routes are its maker's business; that plugin's CHECK verifies them.
func CheckChained(d Deps, at Attachment, n ipam.NetworkInfo, prev *types100.Result) error {
	rec, err := checkRecord(d, at, "no chained endpoint recorded in "+n.Name)
	if err != nil {
		return err
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
	if !rec.Chained {
		bad("addresses %v were allocated by vxbgp-cni, not chained", rec.IPs)
	}
	if mac := link.Attrs().HardwareAddr.String(); mac != rec.MAC.String() {
		bad("interface %s has MAC %s, recorded %s", at.IfName, mac, rec.MAC)
	}
	for _, ip := range rec.IPs {
		if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IP.Equal(ip.AsSlice()) }) {
			bad("address %s missing on %s", ip, at.IfName)
		}
		if prev != nil && !slices.ContainsFunc(prev.IPs, func(c *types100.IPConfig) bool { return c.Address.IP.Equal(ip.AsSlice()) }) {
			bad("prevResult does not list %s", ip)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("check container %s interface %s: %s", at.ContainerID, at.IfName, strings.Join(problems, "; "))
	}
	return nil
}
