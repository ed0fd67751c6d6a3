package bench

import (
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/overlay"
)

// The speaker's tables, encoded before the clock starts: the UPDATEs that
// announce every route and those that withdraw them, per peer (iBGP peers
// get LOCAL_PREF and an empty AS_PATH, eBGP peers our AS).

// Routes per UPDATE: a MAC-only type-2 NLRI is 35 bytes, an IPv4 /28 4;
// both fill most of a 4096-byte message with the attributes.
const (
	evpnPerUpdate    = 100
	unicastPerUpdate = 800
)

// wireTable is one peer's announce and withdraw writes.
type wireTable struct {
	announce, withdraw [][]byte
	updates, bytes     int // announce side
}

func pathAttrs(asn uint32, ibgp bool, extra ...bgp.PathAttributeInterface) []bgp.PathAttributeInterface {
	var asPath []bgp.AsPathParamInterface
	if !ibgp {
		asPath = []bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{asn})}
	}
	out := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeAsPath(asPath)}
	if ibgp {
		out = append(out, bgp.NewPathAttributeLocalPref(100))
	}
	return append(out, extra...)
}

// unicastTable announces pfxs with next hop nh.
func unicastTable(pfxs []netip.Prefix, nh netip.Addr, asn uint32, ibgp bool) (wireTable, error) {
	var ann, wd []*bgp.BGPMessage
	for i := 0; i < len(pfxs); i += unicastPerUpdate {
		var nlri []*bgp.IPAddrPrefix
		for _, p := range pfxs[i:min(i+unicastPerUpdate, len(pfxs))] {
			nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		}
		ann = append(ann, bgp.NewBGPUpdateMessage(nil, pathAttrs(asn, ibgp, bgp.NewPathAttributeNextHop(nh.String())), nlri))
		wd = append(wd, bgp.NewBGPUpdateMessage(nlri, nil, nil))
	}
	return encodeTable(ann, wd)
}

// evpnTable announces a type-3 for vni and n MAC-only type-2 routes
// (MACs 02:e0:00:xx:xx:xx) behind VTEP id, built as control/evpn builds
// ours so they carry the same route target and encapsulation.
func evpnTable(n int, id netip.Addr, asn, vni uint32, ibgp bool) (wireTable, error) {
	t3, err := evpn.Type3(asn, id, 1, vni, id)
	if err != nil {
		return wireTable{}, err
	}
	nlri3, attrs3, err := nativePath(t3)
	if err != nil {
		return wireTable{}, err
	}
	ann := []*bgp.BGPMessage{update(asn, ibgp, id, attrs3, []bgp.AddrPrefixInterface{nlri3})}
	wd := []*bgp.BGPMessage{bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{bgp.NewPathAttributeMpUnreachNLRI([]bgp.AddrPrefixInterface{nlri3})}, nil)}
	var nlris []bgp.AddrPrefixInterface
	var attrs2 []bgp.PathAttributeInterface
	flush := func() {
		if len(nlris) == 0 {
			return
		}
		ann = append(ann, update(asn, ibgp, id, attrs2, nlris))
		wd = append(wd, bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{bgp.NewPathAttributeMpUnreachNLRI(nlris)}, nil))
		nlris = nil
	}
	for i := range n {
		mac := overlay.MAC{0x02, 0xe0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		p, err := evpn.Type2(asn, id, 1, vni, id, mac, netip.Addr{})
		if err != nil {
			return wireTable{}, err
		}
		nlri, attrs, err := nativePath(p)
		if err != nil {
			return wireTable{}, err
		}
		attrs2 = attrs // the same for every type-2
		if nlris = append(nlris, nlri); len(nlris) == evpnPerUpdate {
			flush()
		}
	}
	flush()
	return encodeTable(ann, wd)
}

// nativePath is p's NLRI and its attributes other than ORIGIN, AS_PATH,
// LOCAL_PREF (pathAttrs adds those) and MP_REACH_NLRI (update builds one
// per message).
func nativePath(p *api.Path) (bgp.AddrPrefixInterface, []bgp.PathAttributeInterface, error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return nil, nil, fmt.Errorf("speaker: nlri: %w", err)
	}
	all, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return nil, nil, fmt.Errorf("speaker: attributes: %w", err)
	}
	var out []bgp.PathAttributeInterface
	for _, a := range all {
		switch a.GetType() {
		case bgp.BGP_ATTR_TYPE_ORIGIN, bgp.BGP_ATTR_TYPE_AS_PATH, bgp.BGP_ATTR_TYPE_LOCAL_PREF, bgp.BGP_ATTR_TYPE_MP_REACH_NLRI:
			continue
		}
		out = append(out, a)
	}
	return nlri, out, nil
}

func update(asn uint32, ibgp bool, nh netip.Addr, attrs []bgp.PathAttributeInterface, nlris []bgp.AddrPrefixInterface) *bgp.BGPMessage {
	extra := append([]bgp.PathAttributeInterface{bgp.NewPathAttributeMpReachNLRI(nh.String(), nlris)}, attrs...)
	return bgp.NewBGPUpdateMessage(nil, pathAttrs(asn, ibgp, extra...), nil)
}

func encodeTable(ann, wd []*bgp.BGPMessage) (wireTable, error) {
	a, err := chunk(ann)
	if err != nil {
		return wireTable{}, err
	}
	w, err := chunk(wd)
	if err != nil {
		return wireTable{}, err
	}
	t := wireTable{announce: a, withdraw: w, updates: len(ann)}
	for _, c := range a {
		t.bytes += len(c)
	}
	return t, nil
}
