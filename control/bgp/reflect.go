package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	gobgp "github.com/osrg/gobgp/v3/pkg/server"
)

// Route reflection (RFC 4456). A host exports its own routes only (a
// stub, see installPolicies); a reflector must also pass on what it
// learns from iBGP peers, which GoBGP then sends by the reflection rules:
// from a client to every iBGP peer, from a non-client to the clients,
// next hop unchanged, ORIGINATOR_ID set and the cluster ID prepended to
// CLUSTER_LIST. What it learns must still never reach an eBGP peer (an
// uplink): eBGP rewrites the next hop (osrg/gobgp#596), and a host is no
// transit. GoBGP's export policy has no "destination is iBGP" condition,
// but a neighbour condition on export matches the destination peer
// (server.go filterpath: PolicyOptions.Info is the peer sent to), so the
// statement exports internal routes to peers outside the set of eBGP
// neighbours, which SetPeers keeps current. An empty neighbour set
// matches every peer (table.NeighborCondition), and with no eBGP
// neighbour that is right.

const ebgpSet = "vxbgp-ebgp-peers"

// reflectStatement is the export statement of a reflector, after its
// neighbour set is defined.
func reflectStatement(ctx context.Context, s *gobgp.BgpServer) (*api.Statement, error) {
	err := s.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: ebgpSet}})
	if err != nil {
		return nil, fmt.Errorf("add neighbor set %s: %w", ebgpSet, err)
	}
	return &api.Statement{
		Name: "export-reflected",
		Conditions: &api.Conditions{
			RouteType:   api.Conditions_ROUTE_TYPE_INTERNAL,
			NeighborSet: &api.MatchSet{Type: api.MatchSet_INVERT, Name: ebgpSet},
		},
		Actions: &api.Actions{RouteAction: api.RouteAction_ACCEPT},
	}, nil
}

// setEBGPPeers replaces the eBGP neighbour set with the addresses of the
// peers of another ASN among lists (a reflector only). SetPeers calls it
// with the old and the new peers before changing any, and with the new
// ones after: an eBGP peer is in the set before its session exists.
func (s *Speaker) setEBGPPeers(ctx context.Context, lists ...map[string]PeerConfig) error {
	if !s.reflector {
		return nil
	}
	var addrs []string
	for _, l := range lists {
		for _, p := range l {
			if p.ASN != s.asn {
				a, err := netip.ParseAddr(p.Address)
				if err != nil {
					continue // normalize refused it already
				}
				addrs = append(addrs, netip.PrefixFrom(a, a.BitLen()).String())
			}
		}
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	// Added and removed in place: a statement's condition holds the set
	// object it was built with, and a replaced set (Replace: true) would
	// be a new object the policy never sees.
	var add, del []string
	for _, a := range addrs {
		if !slices.Contains(s.ebgp, a) {
			add = append(add, a)
		}
	}
	for _, a := range s.ebgp {
		if !slices.Contains(addrs, a) {
			del = append(del, a)
		}
	}
	if len(add) > 0 {
		err := s.srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{
			DefinedSet: &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: ebgpSet, List: add}})
		if err != nil {
			return fmt.Errorf("add %v to neighbor set %s: %w", add, ebgpSet, err)
		}
	}
	if len(del) > 0 {
		err := s.srv.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{
			DefinedSet: &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: ebgpSet, List: del}})
		if err != nil {
			return fmt.Errorf("remove %v from neighbor set %s: %w", del, ebgpSet, err)
		}
	}
	s.ebgp = addrs
	return nil
}
