package kube

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/vxbgp/vxbgp/control/peer"
)

// SourceName is how `vxbgpctl peers` names the peers from Nodes.
const SourceName = "kubernetes"

// peerSource is the other Nodes as iBGP peers (as kube-router peers every
// node): each Node but this host's, at its InternalIP of the underlay's
// family, with bgp.asn. A Node without such an address is no peer until
// it reports one.
type peerSource struct{ k *Kube }

func (peerSource) Name() string { return SourceName }

// Run publishes the peers at once, then whenever a Node is added or
// removed or its InternalIP changes. It fails, ending the agent, when
// this host's own InternalIP changes under an underlay.address taken from
// it: BGP sessions, VXLAN devices and routes all carry the address, and a
// restart takes the new one everywhere at once (the DaemonSet restarts
// the pod).
func (s peerSource) Run(ctx context.Context, publish func([]peer.Peer)) error {
	var last []peer.Peer
	for first := true; ; first = false {
		changed := s.k.nodes.changes()
		if err := s.k.checkSelf(); err != nil {
			return err
		}
		if ps := Peers(s.k.nodes.list(), s.k.self, s.k.underlay, s.k.asn); first || !slices.Equal(ps, last) {
			s.k.log.Info("peers from Nodes", "peers", len(ps))
			publish(ps)
			last = ps
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// checkSelf fails when this host's Node reports an InternalIP other than
// the underlay address taken from it. A Node that is gone, or that has no
// InternalIP of the family for a moment, is no change.
func (k *Kube) checkSelf() error {
	if !k.fromNode {
		return nil // underlay.address is the config's: the Node's does not matter
	}
	node := k.nodes.get(k.self)
	if node == nil {
		return nil
	}
	if ip := InternalIP(node, k.underlay.Is4()); ip.IsValid() && ip != k.underlay {
		return fmt.Errorf("node %s InternalIP changed from %s to %s: exiting so that a restart takes the new underlay address", k.self, k.underlay, ip)
	}
	return nil
}

// ReflectorLabel on a Node says its agent is a route reflector
// (bgp.routeReflector.enabled): hosts with bgp.mesh off peer with it. The
// label is the operator's (kubectl label node NAME vxbgp.io/route-reflector=true),
// set on the Nodes whose config enables the reflector.
const ReflectorLabel = "vxbgp.io/route-reflector"

// Peers are the nodes other than self with an InternalIP of underlay's
// family (not underlay itself), sorted by name; those labelled
// ReflectorLabel=true are reflectors.
func Peers(nodes []*corev1.Node, self string, underlay netip.Addr, asn uint32) []peer.Peer {
	var out []peer.Peer
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		if ip := InternalIP(n, underlay.Is4()); ip.IsValid() && ip != underlay {
			out = append(out, peer.Peer{Address: ip, ASN: asn, Name: n.Name, Reflector: n.Labels[ReflectorLabel] == "true"})
		}
	}
	slices.SortFunc(out, func(a, b peer.Peer) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
