package table

// vxbgp patch: how a destination is keyed in its table.
//
// v3.37.0 built a key per lookup: a fresh slice for an IP or VPN prefix
// (the RD serialized into another), and for every other family the NLRI's
// text. For EVPN that text (~90 bytes, built with fmt) was the key of
// every destination in the Adj-RIB-In, the Loc-RIB and its MAC index:
// ~300 bytes held per route and as much garbage per lookup. Here the key
// of an IP, labeled-VPN or EVPN type-2/type-3 destination is its fields in
// binary, built on the caller's stack: a lookup allocates nothing, an
// insert one string, which the destination keeps (Destination.key) for
// its MAC index entries and its removal. Taking in a type-2 route looked
// its key up three times, each time two allocations.
//
// An EVPN type-2 or type-3 key is the route type, RD, Ethernet tag, and
// the MAC and IP (the originator's, for a type-3) each with its length,
// the fields RFC 7432 7.2 and 7.3 make the route key and String prints. A
// binary EVPN key begins with a byte below ' ', so it never equals a
// String key, which the other route types keep.

import (
	"encoding/binary"
	"fmt"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// appendTableKey appends nlri's key to b; ok is false, and b returned
// as it was, for an NLRI keyed by its String.
func appendTableKey(b []byte, nlri bgp.AddrPrefixInterface) ([]byte, bool) {
	switch T := nlri.(type) {
	case *bgp.IPAddrPrefix:
		var a [4]byte
		copy(a[:], T.Prefix.To4())
		return append(append(b, a[:]...), T.Length), true
	case *bgp.IPv6AddrPrefix:
		var a [16]byte
		copy(a[:], T.Prefix.To16())
		return append(append(b, a[:]...), T.Length), true
	case *bgp.LabeledVPNIPAddrPrefix:
		var a [4]byte
		copy(a[:], T.Prefix.To4())
		return append(append(appendRDOrZero(b, T.RD), a[:]...), T.Length), true
	case *bgp.LabeledVPNIPv6AddrPrefix:
		var a [16]byte
		copy(a[:], T.Prefix.To16())
		return append(append(appendRDOrZero(b, T.RD), a[:]...), T.Length), true
	case *bgp.EVPNNLRI:
		return appendEVPNKey(b, T)
	}
	return b, false
}

// tableKey is nlri's key as a string.
func (t *Table) tableKey(nlri bgp.AddrPrefixInterface) string {
	var buf [64]byte
	if b, ok := appendTableKey(buf[:0], nlri); ok {
		return string(b)
	}
	return nlri.String()
}

// lookup is t.destinations[t.tableKey(nlri)] without the key's allocation.
func (t *Table) lookup(nlri bgp.AddrPrefixInterface) (*Destination, bool) {
	var buf [64]byte
	if b, ok := appendTableKey(buf[:0], nlri); ok {
		d, ok := t.destinations[string(b)]
		return d, ok
	}
	d, ok := t.destinations[nlri.String()]
	return d, ok
}

// tableKey is the key dst is stored under in t.
func (dst *Destination) tableKey(t *Table) string {
	if dst.key != "" {
		return dst.key
	}
	return t.tableKey(dst.nlri)
}

// appendEVPNKey appends the key of an EVPN type-2 or type-3 NLRI; ok is
// false for the other route types.
func appendEVPNKey(b []byte, n *bgp.EVPNNLRI) ([]byte, bool) {
	var rd bgp.RouteDistinguisherInterface
	var etag uint32
	var mac, ip []byte
	switch r := n.RouteTypeData.(type) {
	case *bgp.EVPNMacIPAdvertisementRoute:
		rd, etag, mac, ip = r.RD, r.ETag, r.MacAddress, r.IPAddress
	case *bgp.EVPNMulticastEthernetTagRoute:
		rd, etag, ip = r.RD, r.ETag, r.IPAddress
	default:
		return b, false
	}
	if rd == nil || len(mac) > 255 || len(ip) > 255 {
		return b, false
	}
	start := len(b)
	b = append(b, n.RouteType)
	b, err := appendRD(b, rd)
	if err != nil {
		return b[:start], false
	}
	b = binary.BigEndian.AppendUint32(b, etag)
	b = append(b, byte(len(mac)))
	b = append(b, mac...)
	b = append(b, byte(len(ip)))
	b = append(b, ip...)
	return b, true
}

// appendRD appends rd's 8 wire bytes, as its Serialize writes them,
// without Serialize's two allocations for the common types.
func appendRD(b []byte, rd bgp.RouteDistinguisherInterface) ([]byte, error) {
	switch r := rd.(type) {
	case *bgp.RouteDistinguisherTwoOctetAS:
		b = binary.BigEndian.AppendUint16(b, r.Type)
		b = binary.BigEndian.AppendUint16(b, r.Admin)
		return binary.BigEndian.AppendUint32(b, r.Assigned), nil
	case *bgp.RouteDistinguisherIPAddressAS:
		var a [4]byte
		copy(a[:], r.Admin.To4())
		b = binary.BigEndian.AppendUint16(b, r.Type)
		b = append(b, a[:]...)
		return binary.BigEndian.AppendUint16(b, r.Assigned), nil
	case *bgp.RouteDistinguisherFourOctetAS:
		b = binary.BigEndian.AppendUint16(b, r.Type)
		b = binary.BigEndian.AppendUint32(b, r.Admin)
		return binary.BigEndian.AppendUint16(b, r.Assigned), nil
	}
	w, err := rd.Serialize()
	if err != nil {
		return b, err
	}
	if len(w) != 8 {
		return b, fmt.Errorf("route distinguisher of %d bytes", len(w))
	}
	return append(b, w...), nil
}

// appendRDOrZero appends rd's 8 wire bytes, or 8 zero bytes where it has
// none (v3.37.0 copied an unreadable RD as nothing into zeroed bytes).
func appendRDOrZero(b []byte, rd bgp.RouteDistinguisherInterface) []byte {
	if rd != nil {
		if out, err := appendRD(b, rd); err == nil {
			return out
		}
	}
	var z [8]byte
	return append(b, z[:]...)
}
