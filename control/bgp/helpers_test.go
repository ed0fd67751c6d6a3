package bgp_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// newNode starts a speaker (AS bgptest.ASN) on ip that imports unicast
// routes inside imp.
func newNode(t testing.TB, ip, rid string, imp ...netip.Prefix) *bgptest.Speaker {
	t.Helper()
	return bgptest.Start(t, rid, ip, bgp.Config{ASN: bgptest.ASN, RouterID: rid, ImportUnicast: imp})
}

// newNodeConfig starts a speaker on ip from c (RouterID and ASN set).
func newNodeConfig(t testing.TB, ip string, c bgp.Config) *bgptest.Speaker {
	t.Helper()
	return bgptest.Start(t, c.RouterID, ip, c)
}

// newPath builds a path with GoBGP's native builders.
func newPath(t testing.TB, nlri bgppkt.AddrPrefixInterface, attrs ...bgppkt.PathAttributeInterface) *api.Path {
	t.Helper()
	p, err := apiutil.NewPath(nlri, false, attrs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// imet builds an EVPN type-3 path with GoBGP's native builders, as a
// stand-in for control/evpn's translation (which imports this package).
func imet(t testing.TB, routerID string, rdIndex uint16, vni uint32, vtep string) *api.Path {
	t.Helper()
	nlri := bgppkt.NewEVPNMulticastEthernetTagRoute(bgppkt.NewRouteDistinguisherIPAddressAS(routerID, rdIndex), 0, vtep)
	return newPath(t, nlri,
		bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgppkt.NewPathAttributeMpReachNLRI(vtep, []bgppkt.AddrPrefixInterface{nlri}),
		bgppkt.NewPathAttributeExtendedCommunities([]bgppkt.ExtendedCommunityInterface{
			bgppkt.NewTwoOctetAsSpecificExtended(bgppkt.EC_SUBTYPE_ROUTE_TARGET, bgptest.ASN, vni, true),
			bgppkt.NewEncapExtended(bgppkt.TUNNEL_TYPE_VXLAN),
		}),
		bgppkt.NewPathAttributePmsiTunnel(bgppkt.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, vni, bgppkt.NewIngressReplTunnelID(vtep)),
	)
}

// unicast builds a unicast path with GoBGP's native types, the way GoBGP
// itself hands received paths to watchers: IPv4 with a NEXT_HOP attribute,
// IPv6 with MP_REACH_NLRI.
func unicast(t testing.TB, prefix, nexthop string) *api.Path {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	origin := bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP)
	if pfx.Addr().Is4() {
		return newPath(t, bgppkt.NewIPAddrPrefix(uint8(pfx.Bits()), pfx.Addr().String()), origin, bgppkt.NewPathAttributeNextHop(nexthop))
	}
	nlri := bgppkt.NewIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
	return newPath(t, nlri, origin, bgppkt.NewPathAttributeMpReachNLRI(nexthop, []bgppkt.AddrPrefixInterface{nlri}))
}

// prefixOf is the destination text GoBGP uses as key (nlri.String()).
func prefixOf(t testing.TB, p *api.Path) string {
	t.Helper()
	n, err := apiutil.GetNativeNlri(p)
	if err != nil {
		t.Fatal(err)
	}
	return n.String()
}

// peerState returns s's session state towards addr ("" if unknown).
func peerState(t testing.TB, s *bgp.Speaker, addr string) string {
	t.Helper()
	ps, err := s.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Address.String() == addr {
			return p.State
		}
	}
	return ""
}
