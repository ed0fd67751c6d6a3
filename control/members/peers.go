package members

import (
	"context"
	"slices"

	"github.com/vxbgp/vxbgp/control/peer"
)

// Peers is the peer source of discovered hosts ("discovered"): the members
// with this host's ASN, other than itself, as iBGP peers. A member with
// another ASN is left to the static bgp.peers: eBGP needs an operator's
// intent. A dead member stays a peer: removing the peer would send it a
// hard reset and drop its routes at once, and a dead member may be an
// agent restarting on a live host, whose routes graceful restart must
// keep. What becomes of a dead host's entries is the agent's decision
// (control/mask). A member that left (Leave: a decommission) or was
// forgotten (ForgetAfter) is no peer any more. A member's Reflector is
// passed on: whether to peer with it is the agent's Role (control/peer).
func (d *Discovery) Peers() peer.Source { return peerSource{d} }

type peerSource struct{ d *Discovery }

func (peerSource) Name() string { return "discovered" }

// Run publishes the peers at once, then whenever they change (not on every
// change of Members: a member's blocks are not the speaker's business).
func (s peerSource) Run(ctx context.Context, publish func([]peer.Peer)) error {
	var last []peer.Peer
	for first := true; ; first = false {
		changed := s.d.Changes()
		if ps := s.d.peers(); first || !slices.Equal(ps, last) {
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

// peers is the current set, sorted by name.
func (d *Discovery) peers() []peer.Peer {
	var out []peer.Peer
	for _, m := range d.Members() {
		if m.State != Left && m.ASN == d.c.Self.ASN && m.Name != d.c.Self.Name {
			out = append(out, peer.Peer{Address: m.Addr, ASN: m.ASN, Name: m.Name, Reflector: m.Reflector})
		}
	}
	return out
}
