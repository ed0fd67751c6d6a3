package kube

import (
	"errors"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vxbgp/vxbgp/control/config"
)

// testNode is a Node with InternalIPs ips and spec.podCIDRs cidrs.
func testNode(name string, ips []string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: cidrs}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR = cidrs[0]
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

// kubeConfig is the one config of a cluster: no underlay address, no
// blocks.
func kubeConfig(t *testing.T, name string) *config.Config {
	t.Helper()
	c := config.Default()
	c.NodeName = name
	c.BGP.ASN = 64512
	c.Kubernetes.Enabled = true
	c.Metrics.Listen = "" // scenarios that serve health pick a free port
	c.Networks = []config.Network{{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func dualStack(c *config.Config) {
	c.Networks[0].Subnet6, c.Networks[0].Gateway6 = "fd00:10:244::/48", "fd00:10:244::1"
}

func TestPlanFor(t *testing.T) {
	type want struct {
		block, block6, underlay string
		ignored                 []string
		wait                    string // a *WaitError with this reason
		err                     string // another error with this text
	}
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		node *corev1.Node
		want want
	}{
		{"IPv4", nil, testNode("n1", []string{"192.0.2.1"}, "10.244.3.0/24"),
			want{block: "10.244.3.0/24", underlay: "192.0.2.1"}},
		{"legacy spec.podCIDR only", nil, func() *corev1.Node {
			n := testNode("n1", []string{"192.0.2.1"})
			n.Spec.PodCIDR = "10.244.4.0/24"
			return n
		}(), want{block: "10.244.4.0/24", underlay: "192.0.2.1"}},
		{"dual-stack", dualStack, testNode("n1", []string{"fd00::1", "192.0.2.1"}, "10.244.3.0/24", "fd00:10:244:3::/64"),
			want{block: "10.244.3.0/24", block6: "fd00:10:244:3::/64", underlay: "192.0.2.1"}},
		{"IPv6 underlay when the Node has no IPv4 InternalIP", func(c *config.Config) { c.BGP.RouterID = "10.0.0.1" }, testNode("n1", []string{"fd00::1"}, "10.244.3.0/24"),
			want{block: "10.244.3.0/24", underlay: "fd00::1"}},
		{"underlay.address set: the Node's is not taken", func(c *config.Config) { c.Underlay.Address = "198.51.100.1" },
			testNode("n1", []string{"192.0.2.1"}, "10.244.3.0/24"), want{block: "10.244.3.0/24"}},
		{"IPv6 podCIDR on an IPv4-only config: ignored", nil, testNode("n1", []string{"192.0.2.1"}, "10.244.3.0/24", "fd00:10:244:3::/64"),
			want{block: "10.244.3.0/24", underlay: "192.0.2.1", ignored: []string{"fd00:10:244:3::/64"}}},
		{"no podCIDR yet", nil, testNode("n1", []string{"192.0.2.1"}),
			want{wait: "node n1 has no spec.podCIDRs yet (assigned by kube-controller-manager --allocate-node-cidrs)"}},
		{"no InternalIP yet", nil, testNode("n1", nil, "10.244.3.0/24"),
			want{wait: "node n1 has no InternalIP in status.addresses yet (underlay.address is not set)"}},
		{"no InternalIP, underlay.address set", func(c *config.Config) { c.Underlay.Address = "198.51.100.1" },
			testNode("n1", nil, "10.244.3.0/24"), want{block: "10.244.3.0/24"}},
		{"podCIDR outside every subnet", nil, testNode("n1", []string{"192.0.2.1"}, "10.100.3.0/24"),
			want{err: "networks: node n1 podCIDR 10.100.3.0/24 is inside no network's subnet (10.244.0.0/16): it is not installed"}},
		{"podCIDR larger than the subnet", nil, testNode("n1", []string{"192.0.2.1"}, "10.0.0.0/8"),
			want{err: "networks: node n1 podCIDR 10.0.0.0/8 is inside no network's subnet (10.244.0.0/16): it is not installed"}},
		{"IPv6 podCIDR outside subnet6", dualStack, testNode("n1", []string{"192.0.2.1"}, "10.244.3.0/24", "fd00:99::/64"),
			want{err: "networks: node n1 podCIDR fd00:99::/64 is inside no network's subnet6 (fd00:10:244::/48): it is not installed"}},
		{"dual-stack config, IPv4-only Node", dualStack, testNode("n1", []string{"192.0.2.1"}, "10.244.3.0/24"),
			want{err: "networks[0].block6: node n1 has no podCIDR inside fd00:10:244::/48 (its podCIDRs: [10.244.3.0/24]); with kubernetes.enabled each network's block comes from one"}},
		{"a second network without a podCIDR", func(c *config.Config) {
			c.Networks = append(c.Networks, config.Network{Name: "infra", VNI: 200, Subnet: "10.96.0.0/16", Gateway: "10.96.0.1"})
		}, testNode("n1", []string{"192.0.2.1"}, "10.244.3.0/24"),
			want{err: "networks[1].block: node n1 has no podCIDR inside 10.96.0.0/16 (its podCIDRs: [10.244.3.0/24]); with kubernetes.enabled each network's block comes from one"}},
		{"garbage podCIDR", nil, testNode("n1", []string{"192.0.2.1"}, "10.244.3.0"),
			want{err: `node n1 spec.podCIDRs "10.244.3.0": netip.ParsePrefix("10.244.3.0"): no '/'`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kubeConfig(t, "n1")
			if tc.edit != nil {
				tc.edit(cfg)
			}
			plan, err := PlanFor(cfg, tc.node)
			var w *WaitError
			switch {
			case tc.want.wait != "":
				if !errors.As(err, &w) || w.Reason != tc.want.wait {
					t.Fatalf("err %v, want to wait: %s", err, tc.want.wait)
				}
				return
			case tc.want.err != "":
				if err == nil || errors.As(err, &w) || err.Error() != tc.want.err {
					t.Fatalf("err %v, want %s", err, tc.want.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			plan.Apply(cfg)
			if cfg.Networks[0].Block != tc.want.block || cfg.Networks[0].Block6 != tc.want.block6 {
				t.Errorf("block %q block6 %q, want %q %q", cfg.Networks[0].Block, cfg.Networks[0].Block6, tc.want.block, tc.want.block6)
			}
			if u := tc.want.underlay; u != "" && (cfg.Underlay.Address != u || plan.Underlay != netip.MustParseAddr(u)) {
				t.Errorf("underlay %q (plan %s), want %s", cfg.Underlay.Address, plan.Underlay, u)
			}
			if tc.want.underlay == "" && plan.Underlay.IsValid() {
				t.Errorf("underlay %s taken from the Node, want the config's", plan.Underlay)
			}
			if got := fmtPrefixes(plan.Ignored); got != fmtStrings(tc.want.ignored) {
				t.Errorf("ignored %s, want %s", got, fmtStrings(tc.want.ignored))
			}
			// The completed config is a valid config without kubernetes.
			cfg.Kubernetes.Enabled = false
			if err := cfg.Validate(); err != nil {
				t.Errorf("completed config: %v", err)
			}
		})
	}
}

func fmtPrefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return fmtStrings(s)
}

func fmtStrings(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
