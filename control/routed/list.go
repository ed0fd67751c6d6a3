package routed

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// Listed is one unicast path for `vxbgpctl routes`.
type Listed struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
	Peer    string // the neighbour it came from; "" for ours
	Best    bool   // its next hop is installed
}

// Routes lists our advertised blocks and host routes and the received
// unicast paths, in no particular order.
func (s *Source) Routes() []Listed {
	s.mu.Lock()
	advertised := s.advertised
	hosts := map[netip.Prefix]bool{}
	for _, ps := range s.hostAdv {
		for _, p := range ps {
			hosts[p] = true
		}
	}
	rx := make(map[netip.Prefix][]bgp.UnicastPath, len(s.rx))
	maps.Copy(rx, s.rx) // the path slices are replaced, never modified
	s.mu.Unlock()
	var out []Listed
	if advertised {
		for _, b := range s.cfg.Blocks {
			out = append(out, Listed{Prefix: b, NextHop: s.cfg.nextHop(b.Addr()), Best: true})
		}
	}
	for p := range hosts {
		out = append(out, Listed{Prefix: p, NextHop: s.cfg.nextHop(p.Addr()), Best: true})
	}
	for p, paths := range rx {
		rt, v := s.rules.route(p, paths)
		for _, u := range paths {
			if u.Peer == "" {
				continue // our block or host route, listed above
			}
			out = append(out, Listed{Prefix: p, NextHop: u.NextHop, Peer: u.Peer,
				Best: v == install && slices.Contains(rt.Via, u.NextHop)})
		}
	}
	return out
}
