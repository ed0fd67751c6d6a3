package evpn

import (
	"net/netip"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

// localRoute is a path we originate, with its decoded form (for Routes)
// and what it was built from: an equal bk means the same path.
type localRoute struct {
	path  bgp.Path
	route Route
	bk    buildKey
}

// buildKey is everything a local type-2 path is built from (zero for the
// type-3 routes).
type buildKey struct {
	vni   uint32
	mac   overlay.MAC
	ip    netip.Addr
	seq   uint32
	moved bool
}

// endpointRoutes are the type-2 routes of one endpoint: one per IP, a
// MAC-only one for an endpoint without IP. What cannot be advertised is
// logged (throttled) and skipped.
//
// A MAC that a remote VTEP also announces in the network is a move to us:
// the route carries the next MAC mobility sequence (see WithMobility), so
// every host lets it win. The sequence is looked up when the endpoint
// changes, not again: a later remote claim is the MAC moving away, and the
// CNI DEL that follows withdraws ours.
//
// Chained endpoints (made by another plugin, e.g. ptp) get no route: their
// MAC is not behind the network's bridge, so no host could deliver to it at
// L2. The routed source advertises their addresses as host routes instead.
func (s *Source) endpointRoutes(ep endpoint.Endpoint) []localRoute {
	if ep.Chained {
		return nil
	}
	n, ok := s.byName[ep.Network]
	if !ok {
		s.warn.Warn("ep-network:"+ep.Network, "endpoint of unknown network ignored",
			"network", ep.Network, "container", ep.ContainerID, "mac", ep.MAC)
		return nil
	}
	ips := ep.IPs
	if len(ips) == 0 {
		ips = []netip.Addr{{}} // MAC-only
	}
	seq, moved := s.remoteSeq(overlay.FDBKey{VNI: n.VNI, MAC: ep.MAC})
	out := make([]localRoute, 0, len(ips))
	seen := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		if seen[ip] {
			continue // one route per address, however often it is listed
		}
		seen[ip] = true
		lr, err := s.buildType2(n, ep.MAC, ip, seq, moved)
		if err != nil {
			s.warn.Warn("ep-route", "endpoint not advertised", "container", ep.ContainerID, "mac", ep.MAC, "ip", ip, "err", err)
			continue
		}
		out = append(out, lr)
	}
	return out
}

// sameBuild reports whether two route lists would be the same paths.
func sameBuild(a, b []localRoute) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].bk != b[i].bk || a[i].route.Key != b[i].route.Key {
			return false
		}
	}
	return true
}

func bgpPaths(routes []localRoute) []bgp.Path {
	out := make([]bgp.Path, len(routes))
	for i, lr := range routes {
		out[i] = lr.path
	}
	return out
}

// setSent records that endpoint k's routes went from old to routes (the
// zero key stands for the type-3 routes), for Routes.
func (s *Source) setSent(k endpoint.Key, old, routes []localRoute) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lr := range old {
		if owners := s.sent[lr.route.Key]; owners != nil {
			delete(owners, k)
			if len(owners) == 0 {
				delete(s.sent, lr.route.Key)
			}
		}
	}
	for i := range routes {
		owners := s.sent[routes[i].route.Key]
		if owners == nil {
			owners = map[endpoint.Key]*Route{}
			s.sent[routes[i].route.Key] = owners
		}
		owners[k] = &routes[i].route
	}
	if k == (endpoint.Key{}) {
		return
	}
	if len(routes) == 0 {
		delete(s.adv, k)
	} else {
		s.adv[k] = routes
	}
}
