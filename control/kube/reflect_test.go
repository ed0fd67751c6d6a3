package kube

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A Node labelled vxbgp.io/route-reflector=true is a reflector peer; any
// other value, or none, is not.
func TestPeersReflectorLabel(t *testing.T) {
	a, b, c := testNode("a", []string{"192.0.2.1"}), testNode("b", []string{"192.0.2.2"}), testNode("c", []string{"192.0.2.3"})
	b.Labels = map[string]string{ReflectorLabel: "true"}
	c.Labels = map[string]string{ReflectorLabel: "yes"}
	ps := Peers([]*corev1.Node{a, b, c}, "a", netip.MustParseAddr("192.0.2.1"), 64512)
	if len(ps) != 2 || ps[0].Name != "b" || !ps[0].Reflector || ps[1].Name != "c" || ps[1].Reflector {
		t.Errorf("Peers = %v", ps)
	}
}
