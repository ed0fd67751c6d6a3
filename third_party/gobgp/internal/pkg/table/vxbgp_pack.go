package table

// vxbgp: packing the paths of a multiprotocol family (EVPN, IPv6) into
// as few UPDATEs as fit, as v3.37.0 already did for IPv4 unicast only.
// v3.37.0 sent one UPDATE per path, so an agent announcing 10,000
// endpoints wrote 10,000 UPDATEs to every peer, and each peer parsed as
// many. Paths share an UPDATE when their attributes other than
// MP_REACH_NLRI serialize to the same bytes and their next hops are equal
// (the MP_REACH_NLRI built here carries only the next hop, as
// createMPReachMessage's did). The order of the groups is the order of
// their first paths; within a group the paths keep their order; the
// MP_REACH_NLRI keeps its place among the first path's attributes.

import (
	"bytes"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// mpReachOverhead bounds what an MP_REACH_NLRI holds besides its NLRIs:
// the attribute header with an extended length (4), AFI, SAFI and next
// hop length (4), the longest next hop (a VPN IPv6 one with its link-local
// address: 48) and the reserved octet (1).
const mpReachOverhead = 4 + 4 + 48 + 1

// updateOverhead is an UPDATE's header (19) and its two length fields (4).
const updateOverhead = bgp.BGP_HEADER_LENGTH + 4

// nlriLen is the length n takes on the wire with options.
func nlriLen(n bgp.AddrPrefixInterface, options []*bgp.MarshallingOption) int {
	l := n.Len(options...)
	if bgp.IsAddPathEnabled(false, bgp.AfiSafiToRouteFamily(n.AFI(), n.SAFI()), options) {
		l += 4
	}
	return l
}

// packMPWithdrawals splits the withdrawn paths' NLRIs into lists that each
// fit one UPDATE with an MP_UNREACH_NLRI (header 4, AFI and SAFI 3).
func packMPWithdrawals(paths []*Path, options []*bgp.MarshallingOption) [][]bgp.AddrPrefixInterface {
	budget := bgp.BGP_MAX_MESSAGE_LENGTH - updateOverhead - 4 - 3
	var out [][]bgp.AddrPrefixInterface
	var cur []bgp.AddrPrefixInterface
	used := 0
	for _, path := range paths {
		n := path.GetNlri()
		l := nlriLen(n, options)
		if len(cur) > 0 && used+l > budget {
			out = append(out, cur)
			cur, used = nil, 0
		}
		cur = append(cur, n)
		used += l
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// mpGroup is the paths that can share UPDATEs.
type mpGroup struct {
	nexthop string
	attrs   []bgp.PathAttributeInterface // without MP_REACH_NLRI
	at      int                          // where MP_REACH_NLRI goes in attrs
	key     []byte                       // attrs serialized
	paths   []*Path
}

// packMPReach builds the UPDATEs announcing paths.
func packMPReach(paths []*Path, options []*bgp.MarshallingOption) []*bgp.BGPMessage {
	var groups []*mpGroup
	byNexthop := map[string][]*mpGroup{}
	var buf bytes.Buffer
	for _, path := range paths {
		buf.Reset()
		var attrs []bgp.PathAttributeInterface
		at := 0
		for _, a := range path.GetPathAttrs() {
			if a.GetType() == bgp.BGP_ATTR_TYPE_MP_REACH_NLRI {
				at = len(attrs)
				continue
			}
			b, err := a.Serialize(options...)
			if err != nil {
				b = nil // the UPDATE's own serialization reports it
			}
			buf.Write(b)
			attrs = append(attrs, a)
		}
		nh := path.GetNexthop().String()
		var g *mpGroup
		for _, c := range byNexthop[nh] {
			if bytes.Equal(c.key, buf.Bytes()) {
				g = c
				break
			}
		}
		if g == nil {
			g = &mpGroup{nexthop: nh, attrs: attrs, at: at, key: bytes.Clone(buf.Bytes())}
			byNexthop[nh] = append(byNexthop[nh], g)
			groups = append(groups, g)
		}
		g.paths = append(g.paths, path)
	}
	var msgs []*bgp.BGPMessage
	for _, g := range groups {
		attrsLen := 0
		for _, a := range g.attrs {
			attrsLen += a.Len(options...)
		}
		budget := bgp.BGP_MAX_MESSAGE_LENGTH - updateOverhead - attrsLen - mpReachOverhead
		var nlris []bgp.AddrPrefixInterface
		used := 0
		flush := func() {
			if len(nlris) == 0 {
				return
			}
			attrs := make([]bgp.PathAttributeInterface, 0, len(g.attrs)+1)
			attrs = append(attrs, g.attrs[:g.at]...)
			attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(g.nexthop, nlris))
			attrs = append(attrs, g.attrs[g.at:]...)
			msgs = append(msgs, bgp.NewBGPUpdateMessage(nil, attrs, nil))
			nlris, used = nil, 0
		}
		for _, path := range g.paths {
			n := path.GetNlri()
			l := nlriLen(n, options)
			if used+l > budget {
				flush()
			}
			nlris = append(nlris, n)
			used += l
		}
		flush()
	}
	return msgs
}
