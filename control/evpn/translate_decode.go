package evpn

// Decoding the EVPN paths the speaker hands us (see translate.go): the
// speaker's watch gives them as GoBGP parsed them (bgp.RxPath, DecodeRx);
// the *api.Path form (Decode: our own paths, tests) is converted to that
// first, so that one decoder reads both.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	packet "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	apb "google.golang.org/protobuf/types/known/anypb"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/overlay"
)

// Decode turns a path in GoBGP's API form into a Route, as DecodeRx does.
// It never panics: a path it cannot read is ErrMalformed, a route it does
// not handle ErrUnsupported. With an error, the Route is empty, or, when
// the NLRI was read but not the rest, holds only its Kind, Key and Peer.
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
	rx := bgp.RxPath{Withdraw: p.IsWithdraw}
	if p.NeighborIp != "<nil>" {
		rx.Peer = p.NeighborIp
	}
	if rx.NLRI, err = apiNLRI(p.Nlri); err != nil {
		return r, err
	}
	attrs, attrErr := apiutil.GetNativePathAttributes(p)
	if attrErr == nil {
		rx.Attrs = attrs
		return DecodeRx(rx)
	}
	if r, err = DecodeRx(bgp.RxPath{NLRI: rx.NLRI, Peer: rx.Peer, Withdraw: true}); err != nil {
		return r, err // the NLRI is not ours either
	}
	// The NLRI is known: the key alone, as for any bad attribute.
	return Route{Kind: r.Kind, Key: r.Key, Peer: r.Peer}, fmt.Errorf("%s %s: attributes: %w: %w", r.Kind, r.Key, ErrMalformed, attrErr)
}

// apiNLRI converts an NLRI in API form with GoBGP's apiutil, first
// refusing the text apiutil would misread (an IP that does not parse
// becomes none) and filling in a nil ESI, which it dereferences. Only
// paths built through the API (ours, tests) take this way.
func apiNLRI(a *apb.Any) (packet.AddrPrefixInterface, error) {
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("nlri %s: %w: %w", a.GetTypeUrl(), ErrMalformed, err)
	}
	switch n := m.(type) {
	case *api.EVPNMACIPAdvertisementRoute:
		if _, err := overlay.ParseMAC(n.MacAddress); err != nil {
			return nil, fmt.Errorf("type-2 mac %q: %w", n.MacAddress, ErrMalformed)
		}
		if t := n.IpAddress; t != "" && t != "<nil>" {
			if _, err := netip.ParseAddr(t); err != nil {
				return nil, fmt.Errorf("type-2 ip %q: %w", t, ErrMalformed)
			}
		}
		if n.Esi == nil {
			n.Esi = &api.EthernetSegmentIdentifier{}
			if a, err = apb.New(n); err != nil {
				return nil, fmt.Errorf("type-2 nlri: %w: %w", ErrMalformed, err)
			}
		}
	case *api.EVPNInclusiveMulticastEthernetTagRoute:
		if _, err := netip.ParseAddr(n.IpAddress); err != nil {
			return nil, fmt.Errorf("type-3 originator %q: %w", n.IpAddress, ErrMalformed)
		}
	}
	nlri, err := apiutil.UnmarshalNLRI(packet.RF_EVPN, a)
	if err != nil {
		return nil, fmt.Errorf("nlri %s: %w: %w", a.GetTypeUrl(), ErrMalformed, err)
	}
	return nlri, nil
}

// DecodeRx turns a path from the speaker's watch into a Route. It never
// panics: a path it cannot read is ErrMalformed, a route it does not
// handle ErrUnsupported. With an error, the Route is empty, or, when the
// NLRI was read but not the rest, holds only its Kind, Key and Peer.
func DecodeRx(p bgp.RxPath) (r Route, err error) {
	defer func() {
		if x := recover(); x != nil {
			r, err = Route{}, fmt.Errorf("decode path: %v: %w", x, ErrMalformed)
		}
	}()
	if p.NLRI == nil {
		return r, fmt.Errorf("path without nlri (end-of-rib?): %w", ErrMalformed)
	}
	if afi, safi := p.NLRI.AFI(), p.NLRI.SAFI(); afi != packet.AFI_L2VPN || safi != packet.SAFI_EVPN {
		return r, fmt.Errorf("family %d/%d: %w", afi, safi, ErrUnsupported)
	}
	r.Withdraw, r.Peer = p.Withdraw, p.Peer
	if err := decodeNLRI(&r, p.NLRI); err != nil {
		return Route{}, err
	}
	// From here the NLRI is known: a route that fails now comes back with
	// its Kind, Key and Peer, so that the receiver can withdraw what the
	// same NLRI announced before (RFC 7606's treat-as-withdraw).
	keyOnly := Route{Kind: r.Kind, Key: r.Key, Peer: r.Peer}
	if err := decodeAttrs(&r, p.Attrs); err != nil {
		return keyOnly, fmt.Errorf("%s %s: %w", r.Kind, r.Key, err)
	}
	// A withdrawal only needs its key; anything else must say where to go.
	if !r.Withdraw && r.Kind == RouteType2 && !r.NextHop.IsValid() {
		return keyOnly, fmt.Errorf("%s %s: no next hop: %w", r.Kind, r.Key, ErrMalformed)
	}
	return r, nil
}

// decodeNLRI reads the route's kind, values and key. The key is
// familyKey + GoBGP's NLRI text (EVPNMacIPAdvertisementRoute.String and
// the like), built without fmt in one buffer on the stack: it is built
// for every received path, and the RD is a part of it rather than a string
// of its own (one allocation per route, where the RD, MAC and IP texts
// each took one more).
func decodeNLRI(r *Route, a packet.AddrPrefixInterface) error {
	n, ok := a.(*packet.EVPNNLRI)
	if !ok || n == nil {
		return fmt.Errorf("evpn nlri %T: %w", a, ErrMalformed)
	}
	var buf [160]byte
	var err error
	b := append(buf[:0], familyKey...)
	var rdStart, rdEnd int
	switch n := n.RouteTypeData.(type) {
	case *packet.EVPNMacIPAdvertisementRoute:
		r.Kind = RouteType2
		b = append(b, "[type:macadv][rd:"...)
		rdStart = len(b)
		if b, err = appendRD(b, n.RD); err != nil {
			return err
		}
		rdEnd = len(b)
		if len(n.MacAddress) != len(r.MAC) {
			return fmt.Errorf("type-2 mac %q: %w", n.MacAddress, ErrMalformed)
		}
		r.MAC = overlay.MAC(n.MacAddress)
		b = append(b, "][etag:"...)
		b = strconv.AppendUint(b, uint64(n.ETag), 10)
		b = append(b, "][mac:"...)
		for i, x := range r.MAC { // net.HardwareAddr's text
			if i > 0 {
				b = append(b, ':')
			}
			b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
		}
		b = append(b, "][ip:"...)
		if len(n.IPAddress) > 0 {
			ip, ok := netip.AddrFromSlice(n.IPAddress)
			if !ok {
				return fmt.Errorf("type-2 ip %q: %w", n.IPAddress, ErrMalformed)
			}
			ip = ip.Unmap() // net.IP's text for a 16-byte IPv4: the key matches GoBGP's
			b = ip.AppendTo(b)
			if !ip.IsUnspecified() { // some implementations send 0.0.0.0 for "no IP"
				r.IP = ip
			}
		} else {
			b = append(b, "<nil>"...) // IP length 0: MAC-only
		}
		if len(n.Labels) > 0 {
			r.Label = n.Labels[0]
		}
	case *packet.EVPNMulticastEthernetTagRoute:
		r.Kind = RouteType3
		b = append(b, "[type:multicast][rd:"...)
		rdStart = len(b)
		if b, err = appendRD(b, n.RD); err != nil {
			return err
		}
		rdEnd = len(b)
		ip, ok := netip.AddrFromSlice(n.IPAddress)
		if !ok || ip.IsUnspecified() {
			return fmt.Errorf("type-3 originator %q: %w", n.IPAddress, ErrMalformed)
		}
		r.Originator = ip.Unmap()
		b = append(b, "][etag:"...)
		b = strconv.AppendUint(b, uint64(n.ETag), 10)
		b = append(b, "][ip:"...)
		b = r.Originator.AppendTo(b)
	case *packet.EVPNEthernetAutoDiscoveryRoute:
		return fmt.Errorf("evpn type-1 (ethernet auto-discovery): %w", ErrUnsupported)
	case *packet.EVPNEthernetSegmentRoute:
		return fmt.Errorf("evpn type-4 (ethernet segment): %w", ErrUnsupported)
	case *packet.EVPNIPPrefixRoute:
		return fmt.Errorf("evpn type-5 (ip prefix %s/%d): %w", n.IPPrefix, n.IPPrefixLength, ErrUnsupported)
	case *packet.EVPNIPMSIRoute:
		return fmt.Errorf("evpn type-9 (i-pmsi): %w", ErrUnsupported)
	default:
		return fmt.Errorf("evpn nlri %T: %w", n, ErrUnsupported)
	}
	r.Key = string(append(b, ']'))
	r.RD = r.Key[rdStart:rdEnd]
	return nil
}

// appendRD appends an RD's text exactly as GoBGP's NLRI text has it, so
// that Key matches the destination GoBGP shows.
func appendRD(b []byte, rd packet.RouteDistinguisherInterface) ([]byte, error) {
	switch rd := rd.(type) {
	case *packet.RouteDistinguisherIPAddressAS:
		if rd == nil {
			break
		}
		a, ok := netip.AddrFromSlice(rd.Admin)
		if !ok {
			break
		}
		b = a.Unmap().AppendTo(b)
		b = append(b, ':')
		return strconv.AppendUint(b, uint64(rd.Assigned), 10), nil
	case *packet.RouteDistinguisherTwoOctetAS:
		if rd == nil {
			break
		}
		b = strconv.AppendUint(b, uint64(rd.Admin), 10)
		b = append(b, ':')
		return strconv.AppendUint(b, uint64(rd.Assigned), 10), nil
	case *packet.RouteDistinguisherFourOctetAS:
		if rd == nil {
			break
		}
		b = strconv.AppendUint(b, uint64(rd.Admin>>16), 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(rd.Admin&0xFFFF), 10)
		b = append(b, ':')
		return strconv.AppendUint(b, uint64(rd.Assigned), 10), nil
	case nil:
		return b, fmt.Errorf("no route distinguisher: %w", ErrMalformed)
	}
	return b, fmt.Errorf("route distinguisher %T: %w", rd, ErrMalformed)
}

func decodeAttrs(r *Route, attrs []packet.PathAttributeInterface) error {
	var vxlan, otherEncap bool
	var err error
	for _, a := range attrs {
		switch v := a.(type) {
		case *packet.PathAttributeMpReachNLRI:
			if v.SAFI == packet.SAFI_FLOW_SPEC_UNICAST || v.SAFI == packet.SAFI_FLOW_SPEC_VPN {
				continue // no next hop (GoBGP's API lists none)
			}
			if r.NextHop, err = nextHop(v.Nexthop); err != nil {
				return err
			}
		case *packet.PathAttributeNextHop:
			if r.NextHop, err = nextHop(v.Value); err != nil {
				return err
			}
		case *packet.PathAttributeExtendedCommunities:
			for _, c := range v.Value {
				switch ec := c.(type) {
				case *packet.TwoOctetAsSpecificExtended:
					if ec.SubType == subtypeRouteTarget {
						r.addVNI(ec.LocalAdmin)
					}
				case *packet.FourOctetAsSpecificExtended:
					if ec.SubType == subtypeRouteTarget {
						r.addVNI(uint32(ec.LocalAdmin))
					}
				case *packet.IPv4AddressSpecificExtended:
					if ec.SubType == subtypeRouteTarget {
						r.addVNI(uint32(ec.LocalAdmin))
					}
				case *packet.MacMobilityExtended:
					r.Seq, r.Sticky = ec.Sequence, ec.IsSticky
				case *packet.EncapExtended:
					if ec.TunnelType == tunnelTypeVXLAN {
						vxlan = true
					} else {
						otherEncap = true
					}
				}
			}
		case *packet.PathAttributePmsiTunnel:
			if v.TunnelType != pmsiIngressRepl {
				return fmt.Errorf("pmsi tunnel type %d: %w", v.TunnelType, ErrUnsupported)
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

// nextHop reads a next hop as GoBGP's text of it would parse: none (nil)
// is malformed, the unspecified address no next hop.
func nextHop(ip net.IP) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, fmt.Errorf("next hop %q: %w", ip, ErrMalformed)
	}
	if a.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return a.Unmap(), nil
}
