package kube

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vxbgp/vxbgp/control/config"
)

// WaitError says the Node lacks, for now, what the config needs from it:
// no podCIDR assigned yet, no InternalIP reported yet, no Node at all.
// The agent waits for it (not ready, with Reason), instead of exiting.
type WaitError struct{ Reason string }

func (e *WaitError) Error() string { return e.Reason }

// Plan is what this host's Node gives the config.
type Plan struct {
	// Blocks[i] and Blocks6[i] are networks[i].block and .block6 (Blocks6
	// only where the network has subnet6).
	Blocks, Blocks6 []netip.Prefix
	// Underlay is the InternalIP taken for underlay.address; invalid when
	// the config sets underlay.address itself.
	Underlay netip.Addr
	// Ignored are podCIDRs of a family no network has (an IPv4-only
	// config on a dual-stack cluster): logged, never installed.
	Ignored []netip.Prefix
}

// PlanFor works out what node gives cfg (a validated config with
// kubernetes.enabled): each podCIDR becomes the block (IPv4) or block6
// (IPv6) of the network whose subnet contains it, and an empty
// underlay.address becomes the node's InternalIP. It returns a *WaitError
// while the Node lacks podCIDRs or an InternalIP, and a *config.FieldError
// when Node and config disagree for good: podCIDRs are immutable, so a
// podCIDR outside the networks' subnets, or a network without a podCIDR,
// is a config that does not fit the cluster.
func PlanFor(cfg *config.Config, node *corev1.Node) (Plan, error) {
	var plan Plan
	cidrs, err := podCIDRs(node)
	if err != nil {
		return plan, err
	}
	if len(cidrs) == 0 {
		return plan, &WaitError{Reason: fmt.Sprintf("node %s has no spec.podCIDRs yet (assigned by kube-controller-manager --allocate-node-cidrs)", node.Name)}
	}
	if cfg.Underlay.Address == "" {
		if plan.Underlay = underlayIP(node); !plan.Underlay.IsValid() {
			return plan, &WaitError{Reason: fmt.Sprintf("node %s has no InternalIP in status.addresses yet (underlay.address is not set)", node.Name)}
		}
	}
	plan.Blocks = make([]netip.Prefix, len(cfg.Networks))
	plan.Blocks6 = make([]netip.Prefix, len(cfg.Networks))
	for _, c := range cidrs {
		if c.Addr().Is6() && !cfg.DualStack() {
			plan.Ignored = append(plan.Ignored, c)
			continue
		}
		i := networkOf(cfg, c)
		if i < 0 {
			key := "subnet"
			if c.Addr().Is6() {
				key = "subnet6"
			}
			return plan, &config.FieldError{Path: "networks", Msg: fmt.Sprintf("node %s podCIDR %s is inside no network's %s (%s): it is not installed",
				node.Name, c, key, strings.Join(subnets(cfg, c.Addr().Is6()), ", "))}
		}
		if c.Addr().Is4() {
			plan.Blocks[i] = c
		} else {
			plan.Blocks6[i] = c
		}
	}
	for i, n := range cfg.Networks {
		if !plan.Blocks[i].IsValid() {
			return plan, noBlock(node, i, "block", n.Subnet, cidrs)
		}
		if n.Subnet6 != "" && !plan.Blocks6[i].IsValid() {
			return plan, noBlock(node, i, "block6", n.Subnet6, cidrs)
		}
	}
	return plan, nil
}

func noBlock(node *corev1.Node, i int, key, subnet string, cidrs []netip.Prefix) error {
	return &config.FieldError{Path: fmt.Sprintf("networks[%d].%s", i, key),
		Msg: fmt.Sprintf("node %s has no podCIDR inside %s (its podCIDRs: %v); with kubernetes.enabled each network's block comes from one", node.Name, subnet, cidrs)}
}

// Apply writes plan into cfg.
func (p Plan) Apply(cfg *config.Config) {
	for i := range cfg.Networks {
		cfg.Networks[i].Block = p.Blocks[i].String()
		if p.Blocks6[i].IsValid() {
			cfg.Networks[i].Block6 = p.Blocks6[i].String()
		}
	}
	if p.Underlay.IsValid() {
		cfg.Underlay.Address = p.Underlay.String()
	}
}

// blocks are the valid blocks, for the log.
func (p Plan) blocks() string {
	var out []string
	for _, b := range append(append([]netip.Prefix(nil), p.Blocks...), p.Blocks6...) {
		if b.IsValid() {
			out = append(out, b.String())
		}
	}
	return strings.Join(out, ",")
}

// podCIDRs are spec.podCIDRs (or the older single spec.podCIDR), parsed.
func podCIDRs(node *corev1.Node) ([]netip.Prefix, error) {
	list := node.Spec.PodCIDRs
	if len(list) == 0 && node.Spec.PodCIDR != "" {
		list = []string{node.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("node %s spec.podCIDRs %q: %w", node.Name, s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// networkOf is the index of the network whose subnet (subnet6 for IPv6)
// contains c, or -1.
func networkOf(cfg *config.Config, c netip.Prefix) int {
	for i, n := range cfg.Networks {
		for _, pool := range n.Pools() {
			if s := pool.Subnet; s.IsValid() && s.Addr().Is4() == c.Addr().Is4() && s.Bits() <= c.Bits() && s.Contains(c.Addr()) {
				return i
			}
		}
	}
	return -1
}

func subnets(cfg *config.Config, v6 bool) []string {
	var out []string
	for _, n := range cfg.Networks {
		if v6 && n.Subnet6 != "" {
			out = append(out, n.Subnet6)
		} else if !v6 {
			out = append(out, n.Subnet)
		}
	}
	return out
}

// InternalIP is the node's first InternalIP of the wanted family (IPv4
// when v4); invalid when it has none.
func InternalIP(node *corev1.Node, v4 bool) netip.Addr {
	for _, a := range node.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == corev1.NodeInternalIP && ip.Unmap().Is4() == v4 {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// underlayIP is the InternalIP the underlay takes: the first IPv4 one,
// else the first IPv6 one.
func underlayIP(node *corev1.Node) netip.Addr {
	if ip := InternalIP(node, true); ip.IsValid() {
		return ip
	}
	return InternalIP(node, false)
}
