package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	apb "google.golang.org/protobuf/types/known/anypb"
)

// UnicastPath is one usable path to an ipv4/ipv6 unicast prefix.
type UnicastPath struct {
	NextHop netip.Addr
	Peer    string // the neighbour it came from; "" for our own (AddUnicast)
}

// AddUnicast originates prefix as an ipv4 or ipv6 unicast route (by the
// prefix's address family) with nextHop, which must be of the same family;
// it replaces our previous path for the prefix. Host bits are cleared.
func (s *Speaker) AddUnicast(ctx context.Context, prefix netip.Prefix, nextHop netip.Addr) error {
	if !nextHop.IsValid() || nextHop.IsUnspecified() || nextHop.Zone() != "" {
		return fmt.Errorf("add unicast %s: next hop %s: not a usable address", prefix, nextHop)
	}
	p, err := unicastPath(prefix, nextHop)
	if err != nil {
		return fmt.Errorf("add unicast: %w", err)
	}
	return s.AddPath(ctx, p)
}

// DeleteUnicast withdraws our route for prefix, if any.
func (s *Speaker) DeleteUnicast(ctx context.Context, prefix netip.Prefix) error {
	// GoBGP withdraws by NLRI; the next hop only has to parse.
	nh := netip.IPv4Unspecified()
	if prefix.Addr().Is6() {
		nh = netip.IPv6Unspecified()
	}
	p, err := unicastPath(prefix, nh)
	if err != nil {
		return fmt.Errorf("delete unicast: %w", err)
	}
	return s.DeletePath(ctx, p)
}

// unicastPath builds the path kube-router's advertisePodRoute builds:
// IPv4 with a NEXT_HOP attribute, IPv6 with MP_REACH_NLRI, which GoBGP
// accepts only with its Family and NLRI filled in (grpc_server.go api2Path;
// notes/gobgp/GOBGP.md 2.3).
func unicastPath(prefix netip.Prefix, nextHop netip.Addr) (*api.Path, error) {
	if err := checkUnicast(prefix, nextHop); err != nil {
		return nil, err
	}
	prefix = prefix.Masked()
	family := FamilyIPv4
	if prefix.Addr().Is6() {
		family = FamilyIPv6
	}
	fam, _ := apiFamily(family)
	nlri, err := apb.New(&api.IPAddressPrefix{Prefix: prefix.Addr().String(), PrefixLen: uint32(prefix.Bits())})
	if err != nil {
		return nil, fmt.Errorf("prefix %s nlri: %w", prefix, err)
	}
	origin, err := apb.New(&api.OriginAttribute{Origin: 0}) // IGP
	if err != nil {
		return nil, fmt.Errorf("prefix %s origin: %w", prefix, err)
	}
	var nh *apb.Any
	if family == FamilyIPv4 {
		nh, err = apb.New(&api.NextHopAttribute{NextHop: nextHop.String()})
	} else {
		nh, err = apb.New(&api.MpReachNLRIAttribute{Family: fam, NextHops: []string{nextHop.String()}, Nlris: []*apb.Any{nlri}})
	}
	if err != nil {
		return nil, fmt.Errorf("prefix %s next hop: %w", prefix, err)
	}
	return &api.Path{Family: fam, Nlri: nlri, Pattrs: []*apb.Any{origin, nh}}, nil
}

// checkUnicast rejects a unicast prefix or next hop GoBGP would misread:
// what unicastPath (API form) and NewUnicast (packet form) both build from.
func checkUnicast(prefix netip.Prefix, nextHop netip.Addr) error {
	switch {
	case !prefix.IsValid():
		return fmt.Errorf("prefix %s: not valid", prefix)
	case prefix.Addr().Is4In6():
		return fmt.Errorf("prefix %s: IPv4-mapped; use the IPv4 form", prefix)
	case !nextHop.IsValid() || nextHop.Is4() != prefix.Addr().Is4() || nextHop.Is4In6():
		return fmt.Errorf("prefix %s: next hop %s: not of the prefix's address family", prefix, nextHop)
	}
	return nil
}

// errNoNextHop: a unicast path without a next hop GoBGP could parse.
var errNoNextHop = errors.New("no next hop")

// decodeUnicast reads an ipv4/ipv6 unicast path: its prefix and, unless
// it is a withdrawal, its next hop and source. The prefix is returned even
// when the next hop is bad, so the caller can still drop the route.
func decodeUnicast(p *api.Path) (netip.Prefix, UnicastPath, error) {
	var n api.IPAddressPrefix
	if err := p.GetNlri().UnmarshalTo(&n); err != nil {
		return netip.Prefix{}, UnicastPath{}, fmt.Errorf("unicast nlri: %w", err)
	}
	a, err := netip.ParseAddr(n.Prefix)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, UnicastPath{}, fmt.Errorf("unicast nlri prefix %q: not an address", n.Prefix)
	}
	pfx, err := a.Prefix(int(n.PrefixLen))
	if err != nil || int(n.PrefixLen) > a.BitLen() {
		return netip.Prefix{}, UnicastPath{}, fmt.Errorf("unicast nlri %s/%d: bad length", n.Prefix, n.PrefixLen)
	}
	out := UnicastPath{Peer: p.GetNeighborIp()}
	if out.Peer == "<nil>" { // GoBGP's text for a nil source IP: our own path
		out.Peer = ""
	}
	if p.GetIsWithdraw() {
		return pfx, out, nil
	}
	for _, attr := range p.GetPattrs() {
		var text string
		switch {
		case attr.MessageIs((*api.NextHopAttribute)(nil)):
			var nh api.NextHopAttribute
			if err := attr.UnmarshalTo(&nh); err != nil {
				return pfx, out, fmt.Errorf("%s next hop: %w", pfx, err)
			}
			text = nh.NextHop
		case attr.MessageIs((*api.MpReachNLRIAttribute)(nil)):
			var mp api.MpReachNLRIAttribute
			if err := attr.UnmarshalTo(&mp); err != nil {
				return pfx, out, fmt.Errorf("%s mp_reach: %w", pfx, err)
			}
			// A second next hop is the link-local one (RFC 2545): the
			// global one comes first.
			if len(mp.NextHops) > 0 {
				text = mp.NextHops[0]
			}
		default:
			continue
		}
		nh, err := netip.ParseAddr(text)
		if err != nil {
			return pfx, out, fmt.Errorf("%s next hop %q: %w", pfx, text, errNoNextHop)
		}
		out.NextHop = nh
		return pfx, out, nil
	}
	return pfx, out, fmt.Errorf("%s: %w", pfx, errNoNextHop)
}

// unicastRoutes turns one watch event's paths into per-prefix path sets,
// in order of first appearance. With UseMultiplePaths GoBGP reports a
// destination's whole tie set in one event (server.go notifyBestWatcher,
// WatchEvent), or a single withdrawal when none is left
// (table/destination.go GetChanges). A path whose next hop cannot be read
// is logged and left out; its prefix still appears, so that a set which
// lost its only usable path reads as withdrawn.
func (s *Speaker) unicastRoutes(paths []*api.Path, onRoute func(netip.Prefix, []UnicastPath)) {
	var (
		order []netip.Prefix
		sets  = map[netip.Prefix][]UnicastPath{}
	)
	for _, p := range paths {
		if f := FamilyName(p.GetFamily()); f != FamilyIPv4 && f != FamilyIPv6 {
			continue
		}
		pfx, up, err := decodeUnicast(p)
		if !pfx.IsValid() {
			s.log.Warn("unicast route ignored", "peer", p.GetNeighborIp(), "err", err)
			continue
		}
		if _, ok := sets[pfx]; !ok {
			order = append(order, pfx)
			sets[pfx] = nil
		}
		switch {
		case err != nil:
			s.log.Warn("unicast path ignored", "prefix", pfx, "peer", p.GetNeighborIp(), "err", err)
		case !p.GetIsWithdraw():
			sets[pfx] = append(sets[pfx], up)
		}
	}
	for _, pfx := range order {
		onRoute(pfx, sets[pfx])
	}
}
