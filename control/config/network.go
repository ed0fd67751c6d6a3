package config

import (
	"fmt"
	"net/netip"
	"regexp"
)

// networkName is what a network may be called: it ends up in device
// names, file names and the CNI config.
var networkName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidNetworkName reports whether name may be a networks[].name
// (vxbgpctl checks its --network filter with it).
func ValidNetworkName(name string) bool { return networkName.MatchString(name) }

// parsedNet is a network's prefixes, kept when valid for the checks that
// compare networks with each other.
type parsedNet struct {
	subnet, block   netip.Prefix
	subnet6, block6 netip.Prefix
}

// With fromNode (kubernetes.enabled) the blocks come from the Node and
// must be left empty.
func (p *problems) networks(nets []Network, mode string, fromNode bool) {
	if len(nets) == 0 {
		p.add("networks", "at least one network is required")
		return
	}
	names := map[string]int{}
	vnis := map[uint32]int{}
	parsed := make([]parsedNet, len(nets))
	for i, n := range nets {
		path := fmt.Sprintf("networks[%d]", i)
		switch j, dup := names[n.Name]; {
		case n.Name == "":
			p.add(path+".name", "must be set")
		case !networkName.MatchString(n.Name):
			p.add(path+".name", "must be lowercase letters, digits and '-', got %q", n.Name)
		case dup:
			p.add(path+".name", "%q is a duplicate of networks[%d]", n.Name, j)
		default:
			names[n.Name] = i
		}
		p.vni(path+".vni", n.VNI, mode, vnis, i)
		parsed[i] = p.network(path, n, fromNode)
		parsed[i].subnet6, parsed[i].block6 = p.network6(path, n, fromNode)
		p.overlaps(path, i, parsed)
		if n.MTU != 0 && (n.MTU < MinMTU || n.MTU > MaxMTU) {
			p.add(path+".mtu", "must be %d..%d, got %d", MinMTU, MaxMTU, n.MTU)
		}
	}
}

// vni checks a network's VNI: required in overlay mode, where it is the L2
// VNI; routed mode does not use it, but a VNI that is set must still be
// usable should the host switch modes.
func (p *problems) vni(path string, vni uint32, mode string, seen map[uint32]int, i int) {
	if vni == 0 && mode == ModeRouted {
		return
	}
	if vni < 1 || vni > MaxVNI {
		p.add(path, "must be 1..%d", MaxVNI)
		return
	}
	if j, dup := seen[vni]; dup {
		p.add(path, "%d is a duplicate of networks[%d]", vni, j)
		return
	}
	seen[vni] = i
}

// network checks one network's subnet, gateway and block and returns what
// of them is valid.
func (p *problems) network(path string, n Network, fromNode bool) parsedNet {
	var out parsedNet
	subnet, ok := p.prefix(path+".subnet", n.Subnet)
	if ok && subnet.Bits() > 30 {
		p.add(path+".subnet", "%s is too small for a gateway and pods (at most /30)", subnet)
		ok = false
	}
	if ok {
		out.subnet = subnet
	}

	if gw, gwOK := p.unicast(path+".gateway", n.Gateway); gwOK && ok {
		switch {
		case !subnet.Contains(gw):
			p.add(path+".gateway", "%s is outside subnet %s", gw, subnet)
		case gw == subnet.Addr():
			p.add(path+".gateway", "%s is the network address of subnet %s", gw, subnet)
		case gw == broadcast(subnet):
			p.add(path+".gateway", "%s is the broadcast address of subnet %s", gw, subnet)
		}
	}

	// The gateway may lie inside the block: IPAM reserves it.
	block, bOK := p.hostBlock(path+".block", n.Block, fromNode, p.prefix)
	if bOK && ok && !(block.Bits() >= subnet.Bits() && subnet.Contains(block.Addr())) {
		p.add(path+".block", "%s is outside subnet %s", block, subnet)
		bOK = false
	}
	if bOK {
		out.block = block
	}
	return out
}

// network6 checks a network's optional IPv6 subnet6, gateway6 and block6
// (all three or none) and returns the valid prefixes. Both modes support
// dual-stack; routed mode also needs an IPv6 underlay address (the agent
// checks that at start, not here).
func (p *problems) network6(path string, n Network, fromNode bool) (subnet, block netip.Prefix) {
	if n.Subnet6 == "" && n.Gateway6 == "" && n.Block6 == "" {
		return netip.Prefix{}, netip.Prefix{}
	}
	subnet, ok := p.prefix6(path+".subnet6", n.Subnet6)
	if ok && subnet.Bits() > 126 {
		p.add(path+".subnet6", "%s is too small for a gateway and pods (at most /126)", subnet)
		ok = false
	}
	if !ok {
		subnet = netip.Prefix{}
	}
	if gw, gwOK := p.unicast(path+".gateway6", n.Gateway6); gwOK {
		switch {
		case !gw.Is6():
			p.add(path+".gateway6", "%s is not an IPv6 address", gw)
		case ok && !subnet.Contains(gw):
			p.add(path+".gateway6", "%s is outside subnet6 %s", gw, subnet)
		case ok && gw == subnet.Addr():
			p.add(path+".gateway6", "%s is the subnet-router anycast address of subnet6 %s", gw, subnet)
		case gw.IsLinkLocalUnicast():
			p.add(path+".gateway6", "%s is link-local", gw)
		}
	}
	block, bOK := p.hostBlock(path+".block6", n.Block6, fromNode, p.prefix6)
	if bOK && ok && !(block.Bits() >= subnet.Bits() && subnet.Contains(block.Addr())) {
		p.add(path+".block6", "%s is outside subnet6 %s", block, subnet)
		bOK = false
	}
	if !bOK {
		block = netip.Prefix{}
	}
	return subnet, block
}

// hostBlock checks a block or block6. With fromNode it must be empty:
// each host's block comes from its Node's spec.podCIDRs, and one config
// serves every node, so a block written here would be every node's.
func (p *problems) hostBlock(path, s string, fromNode bool, parse func(string, string) (netip.Prefix, bool)) (netip.Prefix, bool) {
	if !fromNode {
		return parse(path, s)
	}
	if s != "" {
		p.add(path, "must be empty with kubernetes.enabled (each node's block comes from its Node's spec.podCIDRs), got %q", s)
	}
	return netip.Prefix{}, false
}

// prefix6 parses an IPv6 CIDR prefix that is its own network address.
func (p *problems) prefix6(path, s string) (netip.Prefix, bool) {
	if s == "" {
		p.add(path, "must be set (subnet6, gateway6 and block6 go together)")
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil || pfx.Addr().Zone() != "" {
		p.add(path, "must be an IPv6 CIDR prefix like fd00:10:244::/48, got %q", s)
		return netip.Prefix{}, false
	}
	if !pfx.Addr().Is6() || pfx.Addr().Is4In6() {
		p.add(path, "%s is not an IPv6 prefix", pfx)
		return netip.Prefix{}, false
	}
	if m := pfx.Masked(); m != pfx {
		p.add(path, "%s has host bits set (did you mean %s?)", pfx, m)
		return netip.Prefix{}, false
	}
	return pfx, true
}

// overlaps compares network i with the ones before it: two blocks must
// never hand out the same address, and two subnets would both route the
// same addresses to different bridges.
func (p *problems) overlaps(path string, i int, nets []parsedNet) {
	for j := range i {
		if a, b := nets[i].subnet, nets[j].subnet; a.IsValid() && b.IsValid() && a.Overlaps(b) {
			p.add(path+".subnet", "%s overlaps networks[%d].subnet %s", a, j, b)
		}
		if a, b := nets[i].block, nets[j].block; a.IsValid() && b.IsValid() && a.Overlaps(b) {
			p.add(path+".block", "%s overlaps networks[%d].block %s", a, j, b)
		}
		if a, b := nets[i].subnet6, nets[j].subnet6; a.IsValid() && b.IsValid() && a.Overlaps(b) {
			p.add(path+".subnet6", "%s overlaps networks[%d].subnet6 %s", a, j, b)
		}
		if a, b := nets[i].block6, nets[j].block6; a.IsValid() && b.IsValid() && a.Overlaps(b) {
			p.add(path+".block6", "%s overlaps networks[%d].block6 %s", a, j, b)
		}
	}
}

// prefix parses an IPv4 CIDR prefix that is its own network address.
func (p *problems) prefix(path, s string) (netip.Prefix, bool) {
	if s == "" {
		p.add(path, "must be set")
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		p.add(path, "must be a CIDR prefix like 10.244.0.0/16, got %q", s)
		return netip.Prefix{}, false
	}
	if !pfx.Addr().Is4() {
		p.add(path, "%s: only IPv4 is supported", pfx)
		return netip.Prefix{}, false
	}
	if m := pfx.Masked(); m != pfx {
		p.add(path, "%s has host bits set (did you mean %s?)", pfx, m)
		return netip.Prefix{}, false
	}
	return pfx, true
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
