package bgp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobgp "github.com/osrg/gobgp/v3/pkg/server"
)

// Path is a route we originate, ready for Advertise. Outside this package
// it is opaque: control/evpn builds EVPN paths with NewNativePath
// (translate_native.go) and NewPath (translate.go), control/routed builds unicast ones with NewUnicast, and
// no other code sees a GoBGP type. Paths are held in GoBGP's packet types
// and handed to it as they are (AddNativePaths): no protobuf on the way,
// which at 10,000 local endpoints was most of the agent's CPU. Build paths
// once and keep them; they are immutable and safe to share.
type Path struct{ d *pathData }

type pathData struct {
	key     string // the destination: family name, "|", the NLRI's bytes
	nlri    bgppkt.AddrPrefixInterface
	nextHop net.IP
	add     []bgppkt.PathAttributeInterface // what AddNativePaths sends, next hop apart
	del     []bgppkt.PathAttributeInterface // what DeleteNativePaths sends
}

// NewNativePath is the path to nlri via nextHop with attrs (GoBGP's packet
// types; no NEXT_HOP or MP_REACH_NLRI: the next hop goes in as GoBGP's API
// puts it). withdrawAttrs is what withdraws it, when that must differ (nil:
// attrs): GoBGP checks the MAC mobility sequence of a path it withdraws
// too, and refuses one lower than a remote claim's, so an EVPN path is
// withdrawn in its form without the community. The values must not change
// afterwards: GoBGP's table shares them.
func NewNativePath(nlri bgppkt.AddrPrefixInterface, nextHop netip.Addr, attrs, withdrawAttrs []bgppkt.PathAttributeInterface) (Path, error) {
	key, err := nativeKey(nlri)
	if err != nil {
		return Path{}, err
	}
	if !nextHop.IsValid() {
		return Path{}, fmt.Errorf("path %s: no next hop", nlri)
	}
	for _, l := range [][]bgppkt.PathAttributeInterface{attrs, withdrawAttrs} {
		for _, a := range l {
			if a == nil {
				return Path{}, fmt.Errorf("path %s: nil attribute", nlri)
			}
			if t := a.GetType(); t == bgppkt.BGP_ATTR_TYPE_NEXT_HOP || t == bgppkt.BGP_ATTR_TYPE_MP_REACH_NLRI {
				return Path{}, fmt.Errorf("path %s: attribute type %d: the next hop goes apart", nlri, t)
			}
		}
	}
	if withdrawAttrs == nil {
		withdrawAttrs = attrs
	}
	return Path{&pathData{key: key, nlri: nlri, nextHop: nextHop.AsSlice(), add: attrs, del: withdrawAttrs}}, nil
}

// NewPath wraps a path in GoBGP's API form (for tests and tools): it is
// converted once, as GoBGP would (checkPath). withdraw is what withdraws
// it, when that must differ (nil: p itself); both must be for one
// destination.
func NewPath(p, withdraw *api.Path) (Path, error) {
	n, add, nh, err := checkPath(p)
	if err != nil {
		return Path{}, err
	}
	del := add
	if withdraw != nil {
		wn, wattrs, _, err := checkPath(withdraw)
		if err != nil {
			return Path{}, fmt.Errorf("path %s withdrawal: %w", n, err)
		}
		if k1, k2 := mustKey(wn), mustKey(n); k1 != k2 {
			return Path{}, fmt.Errorf("path %s: the withdrawal is for another destination", n)
		}
		del = wattrs
	}
	return NewNativePath(n, nh, add, del)
}

// NewUnicast is the ipv4 or ipv6 unicast path for prefix (by its family)
// with nextHop, of the same family; host bits are cleared. It is the path
// unicastPath builds, in packet form.
func NewUnicast(prefix netip.Prefix, nextHop netip.Addr) (Path, error) {
	if !nextHop.IsValid() || nextHop.IsUnspecified() || nextHop.Zone() != "" {
		return Path{}, fmt.Errorf("unicast %s: next hop %s: not a usable address", prefix, nextHop)
	}
	if err := checkUnicast(prefix, nextHop); err != nil {
		return Path{}, fmt.Errorf("unicast: %w", err)
	}
	prefix = prefix.Masked()
	var n bgppkt.AddrPrefixInterface
	if prefix.Addr().Is4() {
		n = bgppkt.NewIPAddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())
	} else {
		n = bgppkt.NewIPv6AddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())
	}
	attrs := []bgppkt.PathAttributeInterface{bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP)}
	return NewNativePath(n, nextHop, attrs, nil)
}

// IsZero reports whether p is the zero Path (built by nothing).
func (p Path) IsZero() bool { return p.d == nil }

// Key identifies p's destination: two paths with one key replace each
// other in the speaker's table.
func (p Path) Key() string {
	if p.d == nil {
		return ""
	}
	return p.d.key
}

// String is the NLRI as GoBGP prints it, for logs and errors.
func (p Path) String() string {
	if p.d == nil {
		return "<none>"
	}
	return p.d.nlri.String()
}

// Equal reports whether two paths are the same announcement: one
// destination, next hop and attributes (as they go on the wire).
func (p Path) Equal(o Path) bool {
	switch {
	case p.d == o.d:
		return true
	case p.d == nil || o.d == nil || p.d.key != o.d.key || !p.d.nextHop.Equal(o.d.nextHop):
		return false
	}
	return bytes.Equal(attrBytes(p.d.add), attrBytes(o.d.add))
}

func attrBytes(attrs []bgppkt.PathAttributeInterface) []byte {
	var out []byte
	for _, a := range attrs {
		b, err := a.Serialize()
		if err != nil {
			b = []byte("error " + err.Error())
		}
		out = append(out, b...)
	}
	return out
}

// native is p in the form AddNativePaths (withdraw false) or
// DeleteNativePaths takes.
func (p Path) native(withdraw bool) gobgp.NativePath {
	attrs := p.d.add
	if withdraw {
		attrs = p.d.del
	}
	return gobgp.NativePath{NLRI: p.d.nlri, NextHop: p.d.nextHop, Attrs: attrs}
}

// Packet returns p's parts in GoBGP's packet types, for tests: the NLRI,
// the next hop and the attributes it is added and withdrawn with. They
// must not be changed.
func (p Path) Packet() (nlri bgppkt.AddrPrefixInterface, nextHop netip.Addr, add, withdraw []bgppkt.PathAttributeInterface) {
	nh, _ := netip.AddrFromSlice(p.d.nextHop)
	return p.d.nlri, nh, p.d.add, p.d.del
}

// nativeKey is a destination's key: its family's name and NLRI bytes.
func nativeKey(n bgppkt.AddrPrefixInterface) (key string, err error) {
	if n == nil {
		return "", errors.New("path without nlri")
	}
	defer func() {
		if r := recover(); r != nil {
			key, err = "", fmt.Errorf("malformed nlri: %v", r)
		}
	}()
	b, err := n.Serialize()
	if err != nil {
		return "", fmt.Errorf("nlri %s: %w", n, err)
	}
	return familyOf(bgppkt.AfiSafiToRouteFamily(n.AFI(), n.SAFI())) + "|" + string(b), nil
}

func mustKey(n bgppkt.AddrPrefixInterface) string {
	k, err := nativeKey(n)
	if err != nil {
		return "error " + err.Error()
	}
	return k
}

// checkPath rejects what GoBGP would misread or crash on, converting the
// path as GoBGP's api2Path does, under recover (a nil ESI, for one, panics
// there, on the server goroutine, where it kills the process). It returns
// the NLRI, the attributes other than the next hop's, and the next hop
// (invalid when there is none).
func checkPath(p *api.Path) (n bgppkt.AddrPrefixInterface, attrs []bgppkt.PathAttributeInterface, nh netip.Addr, err error) {
	switch {
	case p == nil:
		return nil, nil, nh, errors.New("nil path")
	case p.Family == nil:
		return nil, nil, nh, errors.New("path without family")
	case p.Nlri == nil:
		return nil, nil, nh, errors.New("path without nlri")
	}
	defer func() {
		if r := recover(); r != nil {
			n, attrs, err = nil, nil, fmt.Errorf("malformed path: %v", r)
		}
	}()
	n, err = apiutil.GetNativeNlri(p)
	if err != nil {
		return nil, nil, nh, fmt.Errorf("path nlri: %w", err)
	}
	all, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return nil, nil, nh, fmt.Errorf("path %s attributes: %w", n, err)
	}
	var hop net.IP
	for _, a := range all {
		switch a := a.(type) {
		case *bgppkt.PathAttributeNextHop:
			hop = a.Value
		case *bgppkt.PathAttributeMpReachNLRI:
			hop = a.Nexthop
		default:
			attrs = append(attrs, a)
		}
	}
	if nh, _ = netip.AddrFromSlice(hop); nh.Is4In6() {
		nh = nh.Unmap()
	}
	return n, attrs, nh, nil
}
