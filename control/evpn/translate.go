package evpn

// translate.go, translate_native.go and translate_decode.go are the only
// files of this package that know GoBGP's types: this one builds the paths
// we originate in GoBGP's API form, translate_native.go the type-2 paths
// of local endpoints in its packet form (the same bytes, without protobuf),
// the last decodes the ones we receive. Type2, Type3, WithMobility and
// Decode are pure and table-tested against FRR's bytes; the Source methods
// at the end are the glue that hands their results to the speaker (as
// opaque bgp.Path values) and to the store.

import (
	"errors"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	apb "google.golang.org/protobuf/types/known/anypb"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/overlay"
)

// Wire constants (RFC 4360, RFC 5512, RFC 6514, RFC 8365).
const (
	subtypeRouteTarget = 0x02
	tunnelTypeVXLAN    = 8
	pmsiIngressRepl    = 6
	familyKey          = "l2vpn-evpn|"
	maxVNI             = 1<<24 - 1
)

func evpnFamily() *api.Family {
	return &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}
}

// Type2 builds the MAC/IP advertisement FRR expects (RECIPE §7): RD
// routerID:rdIndex (type 1), ESI zero (single-homed; never nil: GoBGP
// dereferences it), Ethernet tag 0, label = VNI raw, RT (asn&0xFFFF):VNI,
// VXLAN encapsulation, next hop = VTEP, origin IGP. An invalid ip makes a
// MAC-only route. No MAC mobility community: see WithMobility.
func Type2(asn uint32, routerID netip.Addr, rdIndex uint16, vni uint32, vtep netip.Addr, mac overlay.MAC, ip netip.Addr) (*api.Path, error) {
	if err := checkCommon(routerID, vni, vtep); err != nil {
		return nil, fmt.Errorf("type-2 mac %s: %w", mac, err)
	}
	if mac.IsZero() || mac[0]&1 == 1 {
		return nil, fmt.Errorf("type-2 mac %s: not a unicast mac", mac)
	}
	ipText := ""
	if ip.IsValid() {
		ip = ip.Unmap()
		ipText = ip.String()
	}
	nlri, err := apb.New(&api.EVPNMACIPAdvertisementRoute{
		Rd:          rdAny(routerID, rdIndex),
		Esi:         &api.EthernetSegmentIdentifier{Type: 0, Value: make([]byte, 9)},
		EthernetTag: 0,
		MacAddress:  mac.String(),
		IpAddress:   ipText,
		Labels:      []uint32{vni},
	})
	if err != nil {
		return nil, fmt.Errorf("type-2 mac %s ip %s: %w", mac, ip, err)
	}
	return path(nlri, vtep, extComms(asn, vni))
}

// WithMobility returns a copy of the type-2 path p carrying a MAC Mobility
// extended community (RFC 7432 7.7) with seq. GoBGP stamps one by itself
// only when a remote route with the same RT and MAC is in its table, and
// then treats a remote route without the community as sequence -1 (ours
// would get 0, a tie, where RFC 7432 15.1 reads "absent" as 0 and wants
// 1); it also misses remote routes whose RT carries another AS (eBGP).
// So the Source computes the sequence itself from the routes it holds.
func WithMobility(p *api.Path, seq uint32, sticky bool) (*api.Path, error) {
	q, ok := proto.Clone(p).(*api.Path)
	if !ok || q == nil {
		return nil, fmt.Errorf("mac mobility: %w", ErrMalformed)
	}
	mm := mustAny(&api.MacMobilityExtended{SequenceNum: seq, IsSticky: sticky})
	for i, a := range q.Pattrs {
		var ec api.ExtendedCommunitiesAttribute
		if a.MessageIs(&ec) {
			if err := a.UnmarshalTo(&ec); err != nil {
				return nil, fmt.Errorf("mac mobility: extended communities: %w: %w", ErrMalformed, err)
			}
			ec.Communities = append(ec.Communities, mm)
			q.Pattrs[i] = mustAny(&ec)
			return q, nil
		}
	}
	q.Pattrs = append(q.Pattrs, mustAny(&api.ExtendedCommunitiesAttribute{Communities: []*apb.Any{mm}}))
	return q, nil
}

// Type3 builds the inclusive multicast route that puts vtep into every
// peer's flood list for vni: originator = next hop = PMSI tunnel id = VTEP,
// PMSI ingress replication with label = VNI (without a PMSI attribute FRR
// installs no flood entry).
func Type3(asn uint32, routerID netip.Addr, rdIndex uint16, vni uint32, vtep netip.Addr) (*api.Path, error) {
	if err := checkCommon(routerID, vni, vtep); err != nil {
		return nil, fmt.Errorf("type-3 vni %d: %w", vni, err)
	}
	nlri, err := apb.New(&api.EVPNInclusiveMulticastEthernetTagRoute{
		Rd:          rdAny(routerID, rdIndex),
		EthernetTag: 0,
		IpAddress:   vtep.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("type-3 vni %d: %w", vni, err)
	}
	pmsi := mustAny(&api.PmsiTunnelAttribute{Type: pmsiIngressRepl, Label: vni, Id: vtep.AsSlice()})
	return path(nlri, vtep, extComms(asn, vni), pmsi)
}

func rdAny(routerID netip.Addr, idx uint16) *apb.Any {
	return mustAny(&api.RouteDistinguisherIPAddress{Admin: routerID.String(), Assigned: uint32(idx)})
}

func extComms(asn, vni uint32) *apb.Any {
	return mustAny(&api.ExtendedCommunitiesAttribute{Communities: []*apb.Any{
		mustAny(&api.TwoOctetAsSpecificExtended{IsTransitive: true, SubType: subtypeRouteTarget, Asn: asn & 0xFFFF, LocalAdmin: vni}),
		mustAny(&api.EncapExtended{TunnelType: tunnelTypeVXLAN}),
	}})
}

// path assembles an EVPN path; the next hop goes in MP_REACH_NLRI, which
// GoBGP wants with family and NLRI filled in.
func path(nlri *apb.Any, nextHop netip.Addr, attrs ...*apb.Any) (*api.Path, error) {
	pattrs := []*apb.Any{
		mustAny(&api.OriginAttribute{Origin: 0}), // IGP
		mustAny(&api.MpReachNLRIAttribute{Family: evpnFamily(), NextHops: []string{nextHop.String()}, Nlris: []*apb.Any{nlri}}),
	}
	return &api.Path{Family: evpnFamily(), Nlri: nlri, Pattrs: append(pattrs, attrs...)}, nil
}

// mustAny wraps a message we built: marshalling a valid generated message
// cannot fail.
func mustAny(m proto.Message) *apb.Any {
	a, err := apb.New(m)
	if err != nil {
		panic(fmt.Sprintf("evpn: marshal %T: %v", m, err))
	}
	return a
}

// onReceived is the speaker's Handler.Received: decode, then receive.
// Our own paths come back through the watch too; they are skipped before
// decoding.
func (s *Source) onReceived(p bgp.RxPath) {
	if p.Peer == "" {
		return // our own path (see bgp.Handler.Path): nothing to decode
	}
	r, err := DecodeRx(p)
	s.take(r, err, p.Peer, p.Withdraw, p.NLRI != nil)
}

// take hands a decoded route to receive, or judges the error: peer,
// withdraw and hasNLRI are the path's.
func (s *Source) take(r Route, err error, peer string, withdraw, hasNLRI bool) {
	switch {
	case err == nil:
		s.receive(r)
	case errors.Is(err, ErrUnsupported):
		if !withdraw { // the withdrawal of a route never taken refuses nothing
			s.reject(unsupported, "route ignored", "peer", peer, "err", err)
		}
	case r.Key != "":
		// The NLRI is readable: whatever it announced before is no longer
		// what the peer means, so it goes (treat-as-withdraw).
		s.reject(malformed, "malformed route treated as a withdrawal", "peer", peer, "err", err)
		s.receive(Route{Kind: r.Kind, Key: r.Key, Peer: r.Peer, Withdraw: true})
	case hasNLRI: // not an End-of-RIB marker
		s.reject(malformed, "malformed route ignored", "peer", peer, "err", err)
	}
}

// imetRoutes are the type-3 routes: one per network, for the life of Run.
func (s *Source) imetRoutes() ([]localRoute, error) {
	out := make([]localRoute, 0, len(s.cfg.Networks))
	for _, n := range s.cfg.Networks {
		p, err := Type3(s.cfg.ASN, s.cfg.RouterID, n.RDIndex, n.VNI, s.cfg.VTEP)
		if err != nil {
			return nil, err
		}
		lr, err := localRouteOf(p, nil, buildKey{})
		if err != nil {
			return nil, err
		}
		out = append(out, lr)
	}
	return out, nil
}

// localRouteOf wraps a path we built for the speaker, with its decoded
// form.
func localRouteOf(add, withdraw *api.Path, bk buildKey) (localRoute, error) {
	path, err := bgp.NewPath(add, withdraw)
	if err != nil {
		return localRoute{}, err
	}
	r, err := Decode(add)
	if err != nil {
		return localRoute{}, err
	}
	return localRoute{path: path, route: r, bk: bk}, nil
}
