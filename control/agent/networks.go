package agent

import (
	"fmt"
	"net/netip"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// buildNetworks turns the config's networks into EVPN networks with their
// device templates: the exact devices the reconciler keeps in the kernel.
func buildNetworks(cfg *config.Config, ul overlay.Underlay) ([]evpn.Network, error) {
	var nets []evpn.Network
	for i, n := range cfg.Networks {
		pools := n.Pools()
		mtu := n.MTU
		if mtu == 0 {
			mtu = ul.MTU - overlay.Overhead(ul.Addr)
		}
		if mtu < 576 {
			return nil, fmt.Errorf("networks[%d]: underlay %s MTU %d leaves %d for pods, below 576", i, ul.Dev, ul.MTU, mtu)
		}
		net := evpn.Network{
			Name:    n.Name,
			VNI:     n.VNI,
			RDIndex: uint16(i + 1),
			Device: overlay.Device{
				VNI:        n.VNI,
				Network:    n.Name,
				Bridge:     overlay.BridgeName(n.VNI),
				VXLAN:      overlay.VXLANName(n.VNI),
				VTEP:       ul.Addr,
				Underlay:   ul.Dev,
				Port:       VXLANPort,
				MTU:        mtu,
				GatewayMAC: overlay.DefaultGatewayMAC,
				Gateway:    gatewayPrefix(pools[0]),
				// Both modes: the bridge answers for pods behind routes.
				ProxyARP: true,
			},
		}
		for _, p := range pools {
			net.Subnets = append(net.Subnets, p.Subnet)
		}
		if len(pools) > 1 {
			// Dual-stack: the bridge holds the IPv6 anycast gateway too,
			// and received IPv6 type-2 IPs inside subnet6 become IPv6
			// neighbours.
			net.Device.Gateway6 = gatewayPrefix(pools[1])
		}
		if cfg.Mode == config.ModeRouted {
			net.Device.VXLAN = "" // no tunnel in routed mode
			if len(pools) > 1 && routed6(cfg, ul) {
				// The bridge answers IPv6 neighbour solicitations for the
				// rest of subnet6, the IPv6 counterpart of its proxy ARP.
				net.Device.NDProxy = pools[1].Block
			}
		}
		nets = append(nets, net)
	}
	return nets, nil
}

// gatewayPrefix is the gateway's address on the bridge: the gateway with
// the subnet's length, so that every pod of the network is on-link.
func gatewayPrefix(p config.Pool) netip.Prefix { return netip.PrefixFrom(p.Gateway, p.Subnet.Bits()) }

// networkInfo is what the CNI plugin needs to attach pods while the agent
// is down: written to <stateDir>/networks.json on every start.
func (a *agent) networkInfo() []ipam.NetworkInfo {
	var out []ipam.NetworkInfo
	for i, n := range a.host.networks {
		info := ipam.NetworkInfo{Name: n.Name, VNI: n.VNI, Bridge: n.Device.Bridge, MTU: n.Device.MTU}
		for _, p := range a.cfg.Networks[i].Pools() {
			info.Pools = append(info.Pools, ipam.Pool(p))
		}
		out = append(out, info)
	}
	return out
}

// families are the BGP families of every peer session.
func (a *agent) families() []string {
	if a.cfg.DualStack() {
		return []string{"evpn", "ipv4", "ipv6"}
	}
	return []string{"evpn", "ipv4"}
}

// routed6 reports whether the routed plane carries IPv6 blocks: in routed
// mode with dual-stack networks (and so an IPv6 underlay address, which
// resolveHost requires). An overlay host reaches its peers' IPv6 pods over
// EVPN, and installs no IPv6 block routes.
func routed6(cfg *config.Config, ul overlay.Underlay) bool {
	return cfg.Mode == config.ModeRouted && cfg.DualStack() && ul.Addr6.IsValid()
}

// nextHop6 is the next hop of the IPv6 blocks: none unless the routed
// plane carries IPv6.
func (a *agent) nextHop6() netip.Addr {
	if routed6(a.cfg, a.host.ul) {
		return a.host.ul.Addr6
	}
	return netip.Addr{}
}

// pools are the networks' pools the routed plane carries: every IPv4
// one, and the IPv6 ones when it carries IPv6.
func (a *agent) pools() []config.Pool {
	var out []config.Pool
	v6 := routed6(a.cfg, a.host.ul)
	for _, n := range a.cfg.Networks {
		for _, p := range n.Pools() {
			if p.Subnet.Addr().Is4() || v6 {
				out = append(out, p)
			}
		}
	}
	return out
}

// subnets are the subnets of the routed plane's pools: received routes
// inside them are accepted.
func (a *agent) subnets() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range a.pools() {
		out = append(out, p.Subnet)
	}
	return out
}

// blocks are this host's blocks of the routed plane's pools: advertised.
func (a *agent) blocks() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range a.pools() {
		out = append(out, p.Block)
	}
	return out
}
