package overlay

import (
	"net/netip"
	"slices"
	"strings"
)

// RouteProtocol is the route protocol number (rtm_protocol) the agent tags
// its kernel routes with, shown by iproute2 as "proto 201". It is how the
// agent tells its routes from everyone else's: the Dataplane observes, and
// deletes, only routes in the main table carrying it. It is outside the
// kernel's list (rtnetlink.h) and FRR's (186..198: 196 is zebra's static
// routes), so a host running FRR keeps its routes.
const RouteProtocol = 201

// Route is a remote block, reached through one or more gateways on the
// underlay (the hosts that announced it). It never names a device: the
// kernel resolves each gateway through its own routes.
type Route struct {
	Dst netip.Prefix
	// Via holds the gateways, sorted and without duplicates; more than one
	// makes an ECMP route. Use State.AddRoute or NewRoute to normalise.
	Via []netip.Addr
}

// NewRoute returns the route to dst (masked) via the given gateways (sorted,
// duplicates removed, the caller's slice untouched).
func NewRoute(dst netip.Prefix, via ...netip.Addr) Route {
	v := slices.Clone(via)
	slices.SortFunc(v, compareAddr)
	return Route{Dst: dst.Masked(), Via: slices.Compact(v)}
}

// Equal reports whether two routes have the same destination and gateways.
func (r Route) Equal(o Route) bool { return r.Dst == o.Dst && slices.Equal(r.Via, o.Via) }

// Clone returns a copy that shares no memory with r.
func (r Route) Clone() Route { return Route{Dst: r.Dst, Via: slices.Clone(r.Via)} }

// Normal reports whether r is as NewRoute makes it: Dst masked, Via sorted
// and without duplicates. A route that is not would never compare equal to
// what a Dataplane observes.
func (r Route) Normal() bool {
	return r.Dst == r.Dst.Masked() &&
		slices.IsSortedFunc(r.Via, compareAddr) && len(slices.Compact(slices.Clone(r.Via))) == len(r.Via)
}

// String renders the route as iproute2 takes it, one "nexthop" per gateway:
//
//	route 10.244.2.0/24 proto vxbgp nexthop via 10.250.0.2 nexthop via 10.250.0.3
func (r Route) String() string {
	var b strings.Builder
	b.WriteString("route ")
	b.WriteString(r.Dst.String())
	b.WriteString(" proto vxbgp")
	for _, v := range r.Via {
		b.WriteString(" nexthop via ")
		b.WriteString(v.String())
	}
	return b.String()
}

// AddRoute fills a State built with NewState, normalising r as NewRoute does.
func (s State) AddRoute(r Route) {
	r = NewRoute(r.Dst, r.Via...)
	s.Routes[r.Dst] = r
}
