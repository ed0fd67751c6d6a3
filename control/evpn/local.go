package evpn

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/overlay"
)

// localRoute is a path we originate, with its decoded form for Routes and
// for the key it is tracked by. withdraw is the path without its MAC
// mobility community: GoBGP checks the sequence of a path given to
// DeletePath too, and refuses one lower than a remote claim's (our MAC may
// have moved away since), which would make the withdrawal impossible. bk
// is what it was built from: an equal bk means the same path.
type localRoute struct {
	path     *api.Path
	withdraw *api.Path
	route    Route
	bk       buildKey
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

// wanted is a route some endpoints (or the network, for a type-3) want
// advertised; refs counts them, so that two endpoints claiming one MAC
// and IP keep it until the last one goes.
type wanted struct {
	lr   localRoute
	refs int
}

// imetKey is the pseudo endpoint that wants the type-3 routes.
const imetKey = "\x00imet"

// imetRoutes are the type-3 routes: one per network, for the life of Run.
func (s *Source) imetRoutes() ([]localRoute, error) {
	out := make([]localRoute, 0, len(s.cfg.Networks))
	for _, n := range s.cfg.Networks {
		p, err := Type3(s.cfg.ASN, s.cfg.RouterID, n.RDIndex, n.VNI, s.cfg.VTEP)
		if err != nil {
			return nil, err
		}
		r, err := Decode(p)
		if err != nil {
			return nil, err
		}
		out = append(out, localRoute{path: p, withdraw: p, route: r})
	}
	return out, nil
}

// sameEndpoint reports whether b would be advertised exactly as a.
func sameEndpoint(a, b localapi.Endpoint) bool {
	return a.Network == b.Network && a.MAC == b.MAC && a.Chained == b.Chained && slices.Equal(a.IPs, b.IPs)
}

// endpointRoutes are the type-2 routes of one endpoint: one per IP, a
// MAC-only one for an endpoint without IP. What cannot be advertised is
// logged (throttled: the agent re-sends endpoints) and skipped.
//
// A MAC that a remote VTEP also announces in the network is a move to us:
// the route carries the next MAC mobility sequence (see WithMobility), so
// every host lets it win. The sequence is looked up when the endpoint
// changes, not again: a later remote claim is the MAC moving away, and the
// CNI DEL that follows withdraws ours.
//
// Chained endpoints (made by another plugin, e.g. ptp) get no route: their
// MAC is not behind the network's bridge, so no host could deliver to it at
// L2. The agent advertises their addresses as host routes instead
// (routed.Source.SetHostRoutes).
func (s *Source) endpointRoutes(ep localapi.Endpoint) []localRoute {
	if ep.Chained {
		return nil
	}
	n, ok := s.byName[ep.Network]
	if !ok {
		s.warn.Warn("ep-network:"+ep.Network, "endpoint of unknown network ignored",
			"network", ep.Network, "container", ep.ContainerID, "mac", ep.MAC)
		return nil
	}
	mac, err := overlay.ParseMAC(ep.MAC)
	if err != nil {
		s.warn.Warn("ep-mac", "endpoint with a bad mac ignored", "container", ep.ContainerID, "mac", ep.MAC, "err", err)
		return nil
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
	seq, moved := s.remoteSeq(overlay.FDBKey{VNI: n.VNI, MAC: mac})
	out := make([]localRoute, 0, len(ips))
	for _, ip := range ips {
		lr, err := s.buildType2(n, mac, ip, seq, moved)
		if err != nil {
			s.warn.Warn("ep-route", "endpoint not advertised", "container", ep.ContainerID, "mac", mac, "ip", ip, "err", err)
			continue
		}
		out = append(out, lr)
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
	lr := localRoute{path: p, withdraw: p, bk: buildKey{vni: n.VNI, mac: mac, ip: ip, seq: seq, moved: moved}}
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

// remoteSeq is the highest MAC mobility sequence among the received
// routes for k, and whether any remote VTEP announces k at all. claims
// counts the received routes per (VNI, MAC), so the common answer (nobody
// else has it) costs a map lookup; only a MAC that moved to us pays a scan
// of the received routes.
func (s *Source) remoteSeq(k overlay.FDBKey) (seq uint32, found bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claims[k] == 0 {
		return 0, false
	}
	for _, e := range s.rx {
		for _, f := range e.fdbs {
			if f.Key() == k && (!found || e.r.Seq > seq) {
				seq, found = e.r.Seq, true
			}
		}
	}
	return seq, found
}

// claim adds (n=1) or removes (n=-1) e's FDB keys in claims; s.mu is held.
func (s *Source) claim(e *entry, n int32) {
	for _, f := range e.fdbs {
		k := f.Key()
		if c := s.claims[k] + n; c > 0 {
			s.claims[k] = c
		} else {
			delete(s.claims, k)
		}
	}
}

// setWant replaces what endpoint k wants advertised with routes, and
// marks every route key it touched for advertise.
func (s *Source) setWant(k string, routes []localRoute) {
	for _, lr := range routes {
		w := s.want[lr.route.Key]
		if w == nil {
			w = &wanted{}
			s.want[lr.route.Key] = w
		}
		w.refs++
		if w.lr.path == nil || w.lr.bk != lr.bk {
			w.lr = lr // the latest claim builds the path
		}
		s.pending[lr.route.Key] = struct{}{}
	}
	for _, lr := range s.epWant[k] {
		if w := s.want[lr.route.Key]; w != nil {
			if w.refs--; w.refs <= 0 {
				delete(s.want, lr.route.Key)
			}
		}
		s.pending[lr.route.Key] = struct{}{}
	}
	if len(routes) == 0 {
		delete(s.epWant, k)
	} else {
		s.epWant[k] = routes
	}
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

// advertise makes the speaker's local paths match want for the pending
// route keys (only what changed since the last call): adds first, then
// withdrawals, so that a changed endpoint (new IP) is never unreachable in
// between. It returns whether everything succeeded; what failed stays
// pending and is retried on the next call.
func (s *Source) advertise(ctx context.Context) bool {
	ok := true
	keys := sortedKeys(s.pending)
	for _, k := range keys {
		w := s.want[k]
		if w == nil {
			continue
		}
		if cur, have := s.local[k]; have && cur.bk == w.lr.bk {
			delete(s.pending, k)
			continue
		}
		lr := w.lr
		if err := s.sp.AddPath(ctx, lr.path); err != nil {
			s.log.Warn("advertise route", "op", "add", "mac", lr.route.MAC, "ip", lr.route.IP, "vni", lr.route.VNIs, "err", err)
			ok = false
			continue
		}
		s.setLocal(k, lr)
		delete(s.pending, k)
		s.log.Debug("advertise route", "op", "add", "kind", lr.route.Kind, "mac", lr.route.MAC, "ip", lr.route.IP, "vni", lr.route.VNIs)
	}
	for _, k := range keys {
		if _, keep := s.want[k]; keep {
			continue
		}
		lr, have := s.local[k]
		if !have {
			delete(s.pending, k)
			continue
		}
		if err := s.sp.DeletePath(ctx, lr.withdraw); err != nil {
			s.log.Warn("withdraw route", "op", "del", "mac", lr.route.MAC, "ip", lr.route.IP, "vni", lr.route.VNIs, "err", err)
			ok = false
			continue
		}
		s.setLocal(k, localRoute{})
		delete(s.pending, k)
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
