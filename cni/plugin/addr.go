package plugin

import (
	"net"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/vxbgp/vxbgp/ipam"
)

// podAddr is one address of a pod interface, with the prefix length of
// its pool's subnet (every pod of the network is on-link), and its pool's
// gateway: the default route of its family.
type podAddr struct {
	addr *net.IPNet
	gw   net.IP
}

func (a podAddr) is6() bool { return a.addr.IP.To4() == nil }

// podAddrs pairs each pool of n, in pool order, with the address of ips
// inside its subnet; missing lists the pools that none of ips is in.
func podAddrs(n ipam.NetworkInfo, ips []netip.Addr) (addrs []podAddr, missing []ipam.Pool) {
	for _, p := range n.Pools {
		i := slices.IndexFunc(ips, p.Subnet.Contains)
		if i < 0 {
			missing = append(missing, p)
			continue
		}
		addrs = append(addrs, podAddr{
			addr: &net.IPNet{IP: ips[i].AsSlice(), Mask: net.CIDRMask(p.Subnet.Bits(), ips[i].BitLen())},
			gw:   net.IP(p.Gateway.AsSlice()),
		})
	}
	return addrs, missing
}

// resultIPs returns the CNI result's IPs and routes for addrs, on the
// interface at index iface of the result's interfaces: each address with
// its gateway, and a default route per family.
func resultIPs(addrs []podAddr, iface int) ([]*types100.IPConfig, []*types.Route) {
	ips := make([]*types100.IPConfig, 0, len(addrs))
	routes := make([]*types.Route, 0, len(addrs))
	for _, a := range addrs {
		ips = append(ips, &types100.IPConfig{Interface: &iface, Address: *a.addr, Gateway: a.gw})
		routes = append(routes, &types.Route{Dst: *defaultDst(a.gw), GW: a.gw})
	}
	return ips, routes
}
