package evpn

// translate_native.go builds the type-2 paths of local endpoints straight
// in GoBGP's packet types, with their Route, for the speaker to hand to
// GoBGP as they are. Type2 and WithMobility build the same paths in API
// form (what GoBGP's API takes and FRR's bytes are checked against); going
// that way for every endpoint meant marshalling each path into protobuf
// and unmarshalling it three times (our Decode, the speaker's check,
// GoBGP's api2Path): at 10,000 endpoints, most of the agent's CPU.
// TestNativeType2MatchesAPI holds the two to the same bytes and Route.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	packet "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/overlay"
)

// type2Base is what every type-2 path of one network shares: GoBGP's
// table shares attribute values between paths as a received UPDATE's
// paths share theirs, and the packer puts paths whose attributes
// serialize alike into one UPDATE.
type type2Base struct {
	rd     packet.RouteDistinguisherInterface
	rdText string
	esi    packet.EthernetSegmentIdentifier
	rt     packet.ExtendedCommunityInterface
	encap  packet.ExtendedCommunityInterface
	attrs  []packet.PathAttributeInterface // ORIGIN IGP, the RT and encapsulation
}

// originIGP is ORIGIN IGP, shared by every path we build (read-only).
var originIGP = packet.NewPathAttributeOrigin(packet.BGP_ORIGIN_ATTR_TYPE_IGP)

// type2Base returns network n's shared parts, made on first use (on the
// loop's goroutine, like every caller of buildType2).
func (s *Source) type2Base(n *Network) *type2Base {
	if b := s.t2[n.VNI]; b != nil {
		return b
	}
	b := &type2Base{
		rd:     packet.NewRouteDistinguisherIPAddressAS(s.cfg.RouterID.String(), n.RDIndex),
		rdText: s.cfg.RouterID.String() + ":" + strconv.FormatUint(uint64(n.RDIndex), 10),
		esi:    packet.EthernetSegmentIdentifier{Type: 0, Value: make([]byte, 9)},
		rt:     packet.NewTwoOctetAsSpecificExtended(subtypeRouteTarget, uint16(s.cfg.ASN&0xFFFF), n.VNI, true),
		encap:  packet.NewEncapExtended(tunnelTypeVXLAN),
	}
	b.attrs = []packet.PathAttributeInterface{
		originIGP,
		packet.NewPathAttributeExtendedCommunities([]packet.ExtendedCommunityInterface{b.rt, b.encap}),
	}
	if s.t2 == nil {
		s.t2 = map[uint32]*type2Base{}
	}
	s.t2[n.VNI] = b
	return b
}

// buildType2 builds the type-2 path for one address of an endpoint (what
// Type2 builds, in packet form), with the next mobility sequence when the
// MAC moved to us (what WithMobility adds). Its withdrawal is the path
// without the mobility community: GoBGP checks the sequence of a path it
// withdraws too, and refuses one lower than a remote claim's (our MAC may
// have moved away since), which would make the withdrawal impossible.
func (s *Source) buildType2(n *Network, mac overlay.MAC, ip netip.Addr, seq uint32, moved bool) (localRoute, error) {
	if err := checkCommon(s.cfg.RouterID, n.VNI, s.cfg.VTEP); err != nil {
		return localRoute{}, fmt.Errorf("type-2 mac %s: %w", mac, err)
	}
	if mac.IsZero() || mac[0]&1 == 1 {
		return localRoute{}, fmt.Errorf("type-2 mac %s: not a unicast mac", mac)
	}
	b := s.type2Base(n)
	bk := buildKey{vni: n.VNI, mac: mac, ip: ip, seq: seq, moved: moved}
	r := Route{Kind: RouteType2, RD: b.rdText, MAC: mac, VNIs: []uint32{n.VNI}, Label: n.VNI, NextHop: s.cfg.VTEP}
	macText := mac.String()
	route := &packet.EVPNMacIPAdvertisementRoute{
		RD: b.rd, ESI: b.esi, MacAddressLength: 48, MacAddress: net.HardwareAddr(mac[:]), Labels: []uint32{n.VNI},
	}
	ipText := "<nil>"
	if ip.IsValid() {
		ip = ip.Unmap()
		ipText = ip.String()
		route.IPAddress, route.IPAddressLength = ip.AsSlice(), uint8(ip.BitLen())
		if !ip.IsUnspecified() { // as decodeNLRI reads it
			r.IP = ip
		}
	}
	r.Key = familyKey + "[type:macadv][rd:" + b.rdText + "][etag:0][mac:" + macText + "][ip:" + ipText + "]"
	nlri := packet.NewEVPNNLRI(packet.EVPN_ROUTE_TYPE_MAC_IP_ADVERTISEMENT, route)
	add := b.attrs
	if moved {
		r.Seq = seq + 1
		add = []packet.PathAttributeInterface{
			originIGP,
			packet.NewPathAttributeExtendedCommunities([]packet.ExtendedCommunityInterface{
				b.rt, b.encap, packet.NewMacMobilityExtended(r.Seq, false),
			}),
		}
	}
	p, err := bgp.NewNativePath(nlri, s.cfg.VTEP, add, b.attrs)
	if err != nil {
		return localRoute{}, fmt.Errorf("type-2 mac %s ip %s: %w", mac, ip, err)
	}
	return localRoute{path: p, route: r, bk: bk}, nil
}
