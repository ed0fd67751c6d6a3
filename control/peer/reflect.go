package peer

import "context"

// Role is this host's place in route reflection (RFC 4456), and decides
// which of the hosts a fleet source (discovered, kubernetes) finds become
// sessions. Static peers (bgp.peers) are the operator's and never go
// through it.
//
//   - Mesh, not a reflector (the default): every host is an iBGP peer.
//   - Mesh off, not a reflector: a route-reflector client: only the hosts
//     that say they are reflectors (Peer.Reflector) are peers. External
//     reflectors (FRR) are listed in bgp.peers instead.
//   - A reflector: every host is a peer, the other reflectors as ordinary
//     iBGP peers (non-clients, so each reflector passes on what its
//     clients sent), every other host as a route-reflector client,
//     whatever Mesh says.
type Role struct {
	Mesh      bool // bgp.mesh
	Reflector bool // bgp.routeReflector.enabled
}

// Select returns the peers of ps this host has sessions with, marked as
// route-reflector clients where this host reflects to them.
func (r Role) Select(ps []Peer) []Peer {
	out := make([]Peer, 0, len(ps))
	for _, p := range ps {
		switch {
		case r.Reflector:
			p.RRClient = !p.Reflector
		case !r.Mesh && !p.Reflector:
			continue
		}
		out = append(out, p)
	}
	return out
}

// Of is src with Select applied to every set it publishes; it keeps src's
// name (`vxbgpctl peers` shows where a peer comes from).
func (r Role) Of(src Source) Source { return roleSource{r, src} }

type roleSource struct {
	r   Role
	src Source
}

func (s roleSource) Name() string { return s.src.Name() }

func (s roleSource) Run(ctx context.Context, publish func([]Peer)) error {
	return s.src.Run(ctx, func(ps []Peer) { publish(s.r.Select(ps)) })
}
