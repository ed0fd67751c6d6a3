package evpn

// Decoding the EVPN paths the speaker hands us (see translate.go).

import (
	"fmt"
	"net/netip"
	"strconv"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/vxbgp/vxbgp/overlay"
	apb "google.golang.org/protobuf/types/known/anypb"
)

// Decode turns a path from the speaker into a Route. It never panics: a
// path it cannot read is ErrMalformed, a route it does not handle
// ErrUnsupported. With an error, the Route is empty, or, when the NLRI was
// read but not the rest, holds only its Kind, Key and Peer.
func Decode(p *api.Path) (r Route, err error) {
	defer func() {
		if x := recover(); x != nil {
			r, err = Route{}, fmt.Errorf("decode path: %v: %w", x, ErrMalformed)
		}
	}()
	switch {
	case p == nil:
		return r, fmt.Errorf("nil path: %w", ErrMalformed)
	case p.Family == nil:
		return r, fmt.Errorf("path without family: %w", ErrMalformed)
	case p.Family.Afi != api.Family_AFI_L2VPN || p.Family.Safi != api.Family_SAFI_EVPN:
		return r, fmt.Errorf("family %d/%d: %w", p.Family.Afi, p.Family.Safi, ErrUnsupported)
	case p.Nlri == nil:
		return r, fmt.Errorf("path without nlri (end-of-rib?): %w", ErrMalformed)
	}
	r.Withdraw = p.IsWithdraw
	if p.NeighborIp != "<nil>" {
		r.Peer = p.NeighborIp
	}
	if err := decodeNLRI(&r, p.Nlri); err != nil {
		return Route{}, err
	}
	// From here the NLRI is known: a route that fails now comes back with
	// its Kind, Key and Peer, so that the receiver can withdraw what the
	// same NLRI announced before (RFC 7606's treat-as-withdraw).
	keyOnly := Route{Kind: r.Kind, Key: r.Key, Peer: r.Peer}
	if err := decodeAttrs(&r, p.Pattrs); err != nil {
		return keyOnly, fmt.Errorf("%s %s: %w", r.Kind, r.Key, err)
	}
	// A withdrawal only needs its key; anything else must say where to go.
	if !r.Withdraw && r.Kind == RouteType2 && !r.NextHop.IsValid() {
		return keyOnly, fmt.Errorf("%s %s: no next hop: %w", r.Kind, r.Key, ErrMalformed)
	}
	return r, nil
}

func decodeNLRI(r *Route, a *apb.Any) error {
	m, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("nlri %s: %w: %w", a.GetTypeUrl(), ErrMalformed, err)
	}
	switch n := m.(type) {
	case *api.EVPNMACIPAdvertisementRoute:
		r.Kind = RouteType2
		if r.RD, err = rdString(n.Rd); err != nil {
			return err
		}
		if r.MAC, err = overlay.ParseMAC(n.MacAddress); err != nil {
			return fmt.Errorf("type-2 mac %q: %w", n.MacAddress, ErrMalformed)
		}
		ipText := n.IpAddress
		switch ipText {
		case "", "<nil>": // IP length 0: MAC-only
			ipText = "<nil>"
		default:
			ip, err := netip.ParseAddr(ipText)
			if err != nil {
				return fmt.Errorf("type-2 ip %q: %w", ipText, ErrMalformed)
			}
			if !ip.IsUnspecified() { // some implementations send 0.0.0.0 for "no IP"
				r.IP = ip.Unmap()
			}
		}
		if len(n.Labels) > 0 {
			r.Label = n.Labels[0]
		}
		r.Key = fmt.Sprintf("%s[type:macadv][rd:%s][etag:%d][mac:%s][ip:%s]", familyKey, r.RD, n.EthernetTag, n.MacAddress, ipText)
	case *api.EVPNInclusiveMulticastEthernetTagRoute:
		r.Kind = RouteType3
		if r.RD, err = rdString(n.Rd); err != nil {
			return err
		}
		ip, err := netip.ParseAddr(n.IpAddress)
		if err != nil || ip.IsUnspecified() {
			return fmt.Errorf("type-3 originator %q: %w", n.IpAddress, ErrMalformed)
		}
		r.Originator = ip.Unmap()
		r.Key = fmt.Sprintf("%s[type:multicast][rd:%s][etag:%d][ip:%s]", familyKey, r.RD, n.EthernetTag, n.IpAddress)
	case *api.EVPNEthernetAutoDiscoveryRoute:
		return fmt.Errorf("evpn type-1 (ethernet auto-discovery): %w", ErrUnsupported)
	case *api.EVPNEthernetSegmentRoute:
		return fmt.Errorf("evpn type-4 (ethernet segment): %w", ErrUnsupported)
	case *api.EVPNIPPrefixRoute:
		return fmt.Errorf("evpn type-5 (ip prefix %s/%d): %w", n.IpPrefix, n.IpPrefixLen, ErrUnsupported)
	case *api.EVPNIPMSIRoute:
		return fmt.Errorf("evpn type-9 (i-pmsi): %w", ErrUnsupported)
	default:
		return fmt.Errorf("evpn nlri %T: %w", m, ErrUnsupported)
	}
	return nil
}

// rdString renders an RD exactly as GoBGP's NLRI text does, so that Key
// matches the destination GoBGP shows.
func rdString(a *apb.Any) (string, error) {
	if a == nil {
		return "", fmt.Errorf("no route distinguisher: %w", ErrMalformed)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return "", fmt.Errorf("route distinguisher %s: %w: %w", a.GetTypeUrl(), ErrMalformed, err)
	}
	switch rd := m.(type) {
	case *api.RouteDistinguisherIPAddress:
		return rd.Admin + ":" + strconv.FormatUint(uint64(rd.Assigned), 10), nil
	case *api.RouteDistinguisherTwoOctetASN:
		return fmt.Sprintf("%d:%d", rd.Admin, rd.Assigned), nil
	case *api.RouteDistinguisherFourOctetASN:
		return fmt.Sprintf("%d.%d:%d", rd.Admin>>16, rd.Admin&0xFFFF, rd.Assigned), nil
	}
	return "", fmt.Errorf("route distinguisher %T: %w", m, ErrMalformed)
}

func decodeAttrs(r *Route, attrs []*apb.Any) error {
	var vxlan, otherEncap bool
	for _, a := range attrs {
		if a == nil {
			continue
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("attribute %s: %w: %w", a.GetTypeUrl(), ErrMalformed, err)
		}
		switch v := m.(type) {
		case *api.MpReachNLRIAttribute:
			if len(v.NextHops) > 0 {
				if r.NextHop, err = parseNextHop(v.NextHops[0]); err != nil {
					return err
				}
			}
		case *api.NextHopAttribute:
			if r.NextHop, err = parseNextHop(v.NextHop); err != nil {
				return err
			}
		case *api.ExtendedCommunitiesAttribute:
			for _, c := range v.Communities {
				cm, err := c.UnmarshalNew()
				if err != nil {
					return fmt.Errorf("extended community %s: %w: %w", c.GetTypeUrl(), ErrMalformed, err)
				}
				switch ec := cm.(type) {
				case *api.TwoOctetAsSpecificExtended:
					if ec.SubType == subtypeRouteTarget {
						r.addVNI(ec.LocalAdmin)
					}
				case *api.FourOctetAsSpecificExtended:
					if ec.SubType == subtypeRouteTarget {
						r.addVNI(ec.LocalAdmin)
					}
				case *api.IPv4AddressSpecificExtended:
					if ec.SubType == subtypeRouteTarget {
						r.addVNI(ec.LocalAdmin)
					}
				case *api.MacMobilityExtended:
					r.Seq, r.Sticky = ec.SequenceNum, ec.IsSticky
				case *api.EncapExtended:
					if ec.TunnelType == tunnelTypeVXLAN {
						vxlan = true
					} else {
						otherEncap = true
					}
				}
			}
		case *api.PmsiTunnelAttribute:
			if v.Type != pmsiIngressRepl {
				return fmt.Errorf("pmsi tunnel type %d: %w", v.Type, ErrUnsupported)
			}
			if r.Kind == RouteType3 {
				r.Label = v.Label
			}
		}
	}
	// No encapsulation community at all is accepted, as FRR does (RECIPE
	// §7); one that names only other tunnels (MPLS, NVGRE) is not for us.
	if otherEncap && !vxlan {
		return fmt.Errorf("encapsulation is not vxlan: %w", ErrUnsupported)
	}
	return nil
}
