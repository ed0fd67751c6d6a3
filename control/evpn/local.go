package evpn

import (
	"context"
	"net/netip"
	"strings"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/overlay"
)

// localRoute is a path we originate, with its decoded form for Routes and
// for the key it is tracked by. withdraw is the path without its MAC
// mobility community: GoBGP checks the sequence of a path given to
// DeletePath too, and refuses one lower than a remote claim's (our MAC may
// have moved away since), which would make the withdrawal impossible.
type localRoute struct {
	path     *api.Path
	withdraw *api.Path
	route    Route
}

// buildKey is everything a local type-2 path is built from: macRoutes
// reuses the path of an unchanged endpoint instead of marshalling and
// decoding it again on every pass (with 10,000 endpoints arriving one at a
// time, rebuilding them all per pass was quadratic).
type buildKey struct {
	vni   uint32
	mac   overlay.MAC
	ip    netip.Addr
	seq   uint32
	moved bool
}

// imetRoutes are the type-3 routes: one per network, for the life of Run.
func (s *Source) imetRoutes() (map[string]localRoute, error) {
	out := make(map[string]localRoute, len(s.cfg.Networks))
	for _, n := range s.cfg.Networks {
		p, err := Type3(s.cfg.ASN, s.cfg.RouterID, n.RDIndex, n.VNI, s.cfg.VTEP)
		if err != nil {
			return nil, err
		}
		r, err := Decode(p)
		if err != nil {
			return nil, err
		}
		out[r.Key] = localRoute{path: p, withdraw: p, route: r}
	}
	return out, nil
}

// macRoutes are the type-2 routes for eps: one per IP, a MAC-only one for
// an endpoint without IP. Endpoints that cannot be advertised are logged
// and skipped; the agent re-sends the full set, so the log is throttled.
//
// A MAC that a remote VTEP also announces in the network is a move to us:
// the route carries the next MAC mobility sequence (see WithMobility), so
// every host lets it win.
//
// Chained endpoints (made by another plugin, e.g. ptp) get no route: their
// MAC is not behind the network's bridge, so no host could deliver to it at
// L2. The agent advertises their addresses as host routes instead
// (routed.Source.SetHostRoutes).
func (s *Source) macRoutes(eps []localapi.Endpoint) map[string]localRoute {
	out := make(map[string]localRoute, len(eps))
	built := make(map[buildKey]localRoute, len(eps))
	defer func() { s.built = built }() // only what is still wanted stays cached
	seqs := s.remoteSeqs()
	for _, ep := range eps {
		if ep.Chained {
			continue
		}
		n, ok := s.byName[ep.Network]
		if !ok {
			s.warn.Warn("ep-network:"+ep.Network, "endpoint of unknown network ignored",
				"network", ep.Network, "container", ep.ContainerID, "mac", ep.MAC)
			continue
		}
		mac, err := overlay.ParseMAC(ep.MAC)
		if err != nil {
			s.warn.Warn("ep-mac", "endpoint with a bad mac ignored", "container", ep.ContainerID, "mac", ep.MAC, "err", err)
			continue
		}
		ips := make([]netip.Addr, 0, len(ep.IPs))
		for _, text := range ep.IPs {
			ip, err := parseIP(text)
			if err != nil {
				s.warn.Warn("ep-ip", "endpoint ip ignored", "container", ep.ContainerID, "ip", text, "err", err)
				continue
			}
			ips = append(ips, ip)
		}
		if len(ips) == 0 {
			ips = append(ips, netip.Addr{}) // MAC-only
		}
		for _, ip := range ips {
			seq, moved := seqs[overlay.FDBKey{VNI: n.VNI, MAC: mac}]
			bk := buildKey{vni: n.VNI, mac: mac, ip: ip, seq: seq, moved: moved}
			lr, ok := s.built[bk]
			if !ok {
				if lr, err = s.buildType2(n, mac, ip, seq, moved); err != nil {
					s.warn.Warn("ep-route", "endpoint not advertised", "container", ep.ContainerID, "mac", mac, "ip", ip, "err", err)
					continue
				}
			}
			built[bk] = lr
			out[lr.route.Key] = lr
		}
	}
	return out
}

// buildType2 builds the type-2 path for one address of an endpoint, with
// the next mobility sequence when the MAC moved to us.
func (s *Source) buildType2(n *Network, mac overlay.MAC, ip netip.Addr, seq uint32, moved bool) (localRoute, error) {
	p, err := Type2(s.cfg.ASN, s.cfg.RouterID, n.RDIndex, n.VNI, s.cfg.VTEP, mac, ip)
	if err != nil {
		return localRoute{}, err
	}
	lr := localRoute{path: p, withdraw: p}
	if moved {
		if lr.path, err = WithMobility(p, seq+1, false); err != nil {
			return localRoute{}, err
		}
	}
	if lr.route, err = Decode(lr.path); err != nil {
		return localRoute{}, err
	}
	return lr, nil
}

// remoteSeqs is the highest MAC mobility sequence among the received
// routes for each (VNI, MAC) of our networks.
func (s *Source) remoteSeqs() map[overlay.FDBKey]uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[overlay.FDBKey]uint32{}
	for _, e := range s.rx {
		for _, f := range e.fdbs {
			if cur, ok := out[f.Key()]; !ok || e.r.Seq > cur {
				out[f.Key()] = e.r.Seq
			}
		}
	}
	return out
}

// parseIP accepts "10.0.0.5" and, leniently, "10.0.0.5/24".
func parseIP(s string) (netip.Addr, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, err
		}
		return p.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err
}

// advertise makes the speaker's local paths match want: adds first, then
// withdrawals, so that a changed endpoint (new IP) is never unreachable in
// between. It returns whether everything succeeded; what failed is retried
// on the next call.
func (s *Source) advertise(ctx context.Context, want map[string]localRoute) bool {
	ok := true
	for _, k := range sortedKeys(want) {
		if _, have := s.local[k]; have {
			continue
		}
		lr := want[k]
		if err := s.sp.AddPath(ctx, lr.path); err != nil {
			s.log.Warn("advertise route", "op", "add", "mac", lr.route.MAC, "ip", lr.route.IP, "vni", lr.route.VNIs, "err", err)
			ok = false
			continue
		}
		s.setLocal(k, lr)
		s.log.Debug("advertise route", "op", "add", "kind", lr.route.Kind, "mac", lr.route.MAC, "ip", lr.route.IP, "vni", lr.route.VNIs)
	}
	for _, k := range sortedKeys(s.local) {
		if _, keep := want[k]; keep {
			continue
		}
		lr := s.local[k]
		if err := s.sp.DeletePath(ctx, lr.withdraw); err != nil {
			s.log.Warn("withdraw route", "op", "del", "mac", lr.route.MAC, "ip", lr.route.IP, "vni", lr.route.VNIs, "err", err)
			ok = false
			continue
		}
		s.setLocal(k, localRoute{})
		s.log.Debug("withdraw route", "op", "del", "kind", lr.route.Kind, "mac", lr.route.MAC, "ip", lr.route.IP, "vni", lr.route.VNIs)
	}
	return ok
}

// setLocal records (or, with a zero localRoute, forgets) an advertised
// path; Routes reads the map, hence the lock.
func (s *Source) setLocal(k string, lr localRoute) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lr.path == nil {
		delete(s.local, k)
		return
	}
	s.local[k] = lr
}
