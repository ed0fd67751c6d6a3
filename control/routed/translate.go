package routed

import (
	"net/netip"
	"slices"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/overlay"
)

// verdict is what becomes of a received prefix.
type verdict int

const (
	install   verdict = iota // a route via the usable next hops
	withdrawn                // no path left
	ownPath                  // our own path is the best (a block of ours)
	ownBlock                 // the prefix is one of our blocks or inside one
	isSubnet                 // the prefix is a network's whole subnet
	outside                  // outside every subnet and import prefix
	noNextHop                // no path has a next hop we can use
)

func (v verdict) String() string {
	return [...]string{"install", "withdrawn", "own path", "own block", "subnet", "outside", "no usable next hop"}[v]
}

// rules decide which received prefixes become kernel routes. They are pure
// functions of the configuration, table-tested in translate_test.go.
type rules struct {
	blocks  []netip.Prefix
	own     []netip.Addr // our next hops: a path through them would loop
	subnets []netip.Prefix
	exact   []netip.Prefix
}

func newRules(c Config) rules {
	r := rules{subnets: masked(c.Subnets), exact: masked(c.ImportPrefixes), blocks: masked(c.Blocks)}
	for _, a := range []netip.Addr{c.NextHop4, c.NextHop6} {
		if a.IsValid() {
			r.own = append(r.own, a.Unmap())
		}
	}
	return r
}

func masked(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			out = append(out, p.Masked())
		}
	}
	return out
}

// covers reports whether p is c or a longer prefix inside it.
func covers(c, p netip.Prefix) bool {
	return p.Bits() >= c.Bits() && c.Contains(p.Addr())
}

// allowed mirrors the speaker's import policy (Config.ImportUnicast =
// Subnets, Config.ImportExact = ImportPrefixes): inside a subnet at any
// length, or exactly an import prefix.
func (r rules) allowed(p netip.Prefix) bool {
	return slices.ContainsFunc(r.subnets, func(s netip.Prefix) bool { return covers(s, p) }) ||
		slices.Contains(r.exact, p)
}

// route judges one prefix and its current path set (GoBGP's multipath
// set, see bgp.Handler.Unicast). In order:
//
//   - no paths: withdrawn;
//   - our own path among them: it is one of our blocks, never installed;
//   - the prefix is one of our blocks or inside one: our pods are local,
//     whoever else claims them;
//   - the prefix is a network's whole subnet: the anycast gateway's
//     address on the bridge puts a connected route there, which a route
//     of ours for the same destination would collide with (or replace);
//   - outside the subnets and import prefixes: the import policy should
//     have dropped it, and we drop it again;
//   - otherwise a route via every usable next hop: of the prefix's family,
//     not unspecified, not link-local (it would need a device), not ours
//     (a route via ourselves loops). None usable: noNextHop.
func (r rules) route(p netip.Prefix, paths []bgp.UnicastPath) (overlay.Route, verdict) {
	switch {
	case len(paths) == 0:
		return overlay.Route{}, withdrawn
	case slices.ContainsFunc(paths, func(u bgp.UnicastPath) bool { return u.Peer == "" }):
		return overlay.Route{}, ownPath
	case slices.ContainsFunc(r.blocks, func(b netip.Prefix) bool { return covers(b, p) }):
		return overlay.Route{}, ownBlock
	case slices.Contains(r.subnets, p):
		return overlay.Route{}, isSubnet
	case !r.allowed(p):
		return overlay.Route{}, outside
	}
	via := make([]netip.Addr, 0, len(paths))
	for _, u := range paths {
		if r.usable(p, u.NextHop) {
			via = append(via, u.NextHop)
		}
	}
	if len(via) == 0 {
		return overlay.Route{}, noNextHop
	}
	return overlay.NewRoute(p, via...), install
}

func (r rules) usable(p netip.Prefix, nh netip.Addr) bool {
	return nh.IsValid() && nh.Is4() == p.Addr().Is4() && !nh.Is4In6() && !martian(nh) && !slices.Contains(r.own, nh)
}

// build turns the received table into the routes to install.
func (r rules) build(rx map[netip.Prefix][]bgp.UnicastPath) map[netip.Prefix]overlay.Route {
	out := make(map[netip.Prefix]overlay.Route, len(rx))
	for p, paths := range rx {
		if rt, v := r.route(p, paths); v == install {
			out[p] = rt
		}
	}
	return out
}
