package desired

import (
	"net/netip"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay"
)

// NAT is the pod egress the networks ask for (networks[].natOutgoing,
// true unless set to false): for each pool (subnet, subnet6) of a NATed
// network, one masquerade rule from it to everything outside every
// network's pool of that family, NATed or not, so that pod-to-pod traffic
// between any two networks keeps its addresses in both modes. nets must
// be validated.
func NAT(nets []config.Network) overlay.NAT {
	var pools4, pools6 []netip.Prefix
	for _, n := range nets {
		for _, p := range n.Pools() {
			if p.Subnet.Addr().Is6() {
				pools6 = append(pools6, p.Subnet)
			} else {
				pools4 = append(pools4, p.Subnet)
			}
		}
	}
	var rules []overlay.Masquerade
	for _, n := range nets {
		if !n.NATOn() {
			continue
		}
		for _, p := range n.Pools() {
			except := pools4
			if p.Subnet.Addr().Is6() {
				except = pools6
			}
			rules = append(rules, overlay.Masquerade{Network: n.Name, Src: p.Subnet, Except: except})
		}
	}
	return overlay.NewNAT(rules...)
}

// SetNAT takes the pod egress NAT (see NAT); the zero NAT: none.
func (m *Merger) SetNAT(n overlay.NAT) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nat = n
	m.publishLocked()
}
