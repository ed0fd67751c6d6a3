package evpn

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// Hostile input over a real session: a hand-written peer sends a real
// speaker, wired to a real Source, what no sane speaker would. Per RFC
// 7606 a malformed attribute withdraws the routes of its UPDATE and the
// session stays up; an NLRI that cannot be read resets the session with a
// NOTIFICATION. Whatever arrives, nothing bad reaches the desired state,
// good routes sent alongside apply, and each kind is counted.

const (
	hostileSelf = "192.0.2.31" // the Source's VTEP
	hostileVTEP = "192.0.2.32" // the raw peer's
	hostileRD   = "10.0.0.32"
)

// hostilePeer is a raw peer in session with a Source, and what it read.
type hostilePeer struct {
	*bgptest.RawPeer
	h *host

	mu     sync.Mutex
	notif  *bgppkt.BGPNotification
	closed error
}

func newHostilePeer(t *testing.T, ip, peerIP string) *hostilePeer {
	h := newHost(t, "H", ip, "10.0.0.31", hostileSelf).run(t, hostOpts{})
	<-h.src.Ready()
	if err := h.SetPeers(context.Background(), []bgp.PeerConfig{{Address: peerIP, ASN: bgptest.ASN, Passive: true, LocalAddress: h.IP,
		Families: []string{bgp.FamilyEVPN}}}); err != nil {
		t.Fatal(err)
	}
	p := &hostilePeer{RawPeer: bgptest.DialRaw(t, peerIP, h.Speaker), h: h}
	go p.drain()
	return p
}

// drain reads what the speaker sends until the connection ends.
func (p *hostilePeer) drain() {
	for {
		m, err := p.ReadWithin(time.Minute)
		p.mu.Lock()
		if err != nil {
			p.closed = err
			p.mu.Unlock()
			return
		}
		if n, ok := m.Body.(*bgppkt.BGPNotification); ok {
			p.notif = n
		}
		p.mu.Unlock()
	}
}

func (p *hostilePeer) state() (*bgppkt.BGPNotification, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notif, p.closed
}

// up fails the test unless the session is up on both sides.
func (p *hostilePeer) up(t *testing.T, after string) {
	t.Helper()
	if n, err := p.state(); n != nil || err != nil {
		t.Fatalf("after %s: session ended: notification %+v, %v", after, n, err)
	}
	ps, err := p.h.Peers(context.Background())
	if err != nil || len(ps) != 1 || !ps[0].Established() {
		t.Fatalf("after %s: peers %+v, %v", after, ps, err)
	}
}

func rdOf() bgppkt.RouteDistinguisherInterface {
	return bgppkt.NewRouteDistinguisherIPAddressAS(hostileRD, 1)
}

var zeroESI = bgppkt.EthernetSegmentIdentifier{Type: bgppkt.ESI_ARBITRARY, Value: make([]byte, 9)}

func t2(mac, ip string, label uint32) *bgppkt.EVPNNLRI {
	return bgppkt.NewEVPNMacIPAdvertisementRoute(rdOf(), zeroESI, 0, mac, ip, []uint32{label})
}

func rtAttr(vni uint32) bgppkt.PathAttributeInterface {
	return bgppkt.NewPathAttributeExtendedCommunities([]bgppkt.ExtendedCommunityInterface{
		bgppkt.NewTwoOctetAsSpecificExtended(bgppkt.EC_SUBTYPE_ROUTE_TARGET, bgptest.ASN, vni, true),
		bgppkt.NewEncapExtended(bgppkt.TUNNEL_TYPE_VXLAN)})
}

func ser(t *testing.T, as ...bgppkt.PathAttributeInterface) [][]byte {
	t.Helper()
	var out [][]byte
	for _, a := range as {
		b, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// reach is an UPDATE announcing nlris via nh with route target vni, plus
// the raw attributes extra; omit leaves out ORIGIN (1) or AS_PATH (2)
// when extra carries a broken one.
func reach(t *testing.T, nh string, vni uint32, nlris []bgppkt.AddrPrefixInterface, extra [][]byte, omit ...bgppkt.BGPAttrType) []byte {
	t.Helper()
	var as []bgppkt.PathAttributeInterface
	for _, a := range []bgppkt.PathAttributeInterface{bgppkt.NewPathAttributeOrigin(0), bgppkt.NewPathAttributeAsPath(nil)} {
		if !containsType(omit, a.GetType()) {
			as = append(as, a)
		}
	}
	as = append(as, bgppkt.NewPathAttributeMpReachNLRI(nh, nlris), rtAttr(vni))
	return bgptest.RawUpdate(append(ser(t, as...), extra...)...)
}

func containsType(ts []bgppkt.BGPAttrType, t bgppkt.BGPAttrType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func nlris(ns ...*bgppkt.EVPNNLRI) []bgppkt.AddrPrefixInterface {
	out := make([]bgppkt.AddrPrefixInterface, len(ns))
	for i, n := range ns {
		out[i] = n
	}
	return out
}

// TestHostileRoutesKeepSession sends, over one session, routes that decode
// but must not be installed, and attributes RFC 7606 treats as a
// withdrawal; the session must stay up throughout.
func TestHostileRoutesKeepSession(t *testing.T) {
	p := newHostilePeer(t, "127.0.0.131", "127.0.0.132")
	h := p.h
	var want []string
	good := func(mac, ip string) {
		want = append(want, fdbLine(mac, 100, hostileVTEP), neighLine(ip, mac, 100))
	}
	check := func(after string) {
		t.Helper()
		waitRemote(t, h, sorted(want...), sessionTimeout)
		p.up(t, after)
	}

	// Semantics: each bad route goes with a good one in the same UPDATE.
	p.Send(reach(t, hostileVTEP, 100, nlris(
		t2("02:00:00:00:00:01", "10.244.0.1", 100),
		t2("00:00:00:00:00:00", "10.244.0.2", 100), // zero MAC: the flood list's key
		t2("01:00:5e:00:00:01", "10.244.0.3", 100), // multicast
		t2("ff:ff:ff:ff:ff:ff", "10.244.0.4", 100), // broadcast
		t2("02:00:00:00:00:05", "10.244.0.5", 0),   // label (VNI) 0
		t2("02:00:00:00:00:06", "10.99.0.6", 100),  // outside the subnet: MAC only
		bgppkt.NewEVPNMacIPAdvertisementRoute(rdOf(), bgppkt.EthernetSegmentIdentifier{Type: 0x7f, Value: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}}, 0,
			"02:00:00:00:00:07", "10.244.0.7", []uint32{100}), // an ESI of no known type: single-homing ignores it
		t2("02:00:00:00:00:08", "10.244.0.8", 0xffffff), // the largest label three bytes hold
	), nil))
	good("02:00:00:00:00:01", "10.244.0.1")
	want = append(want, fdbLine("02:00:00:00:00:06", 100, hostileVTEP))
	good("02:00:00:00:00:07", "10.244.0.7")
	good("02:00:00:00:00:08", "10.244.0.8")
	check("bad MACs and labels")

	p.Send(reach(t, hostileVTEP, 999, nlris(t2("02:00:00:00:00:09", "10.244.0.9", 999)), nil)) // a VNI of no network
	p.Send(reach(t, hostileVTEP, 100, nlris(
		bgppkt.NewEVPNEthernetAutoDiscoveryRoute(rdOf(), zeroESI, 0, 100),
		bgppkt.NewEVPNEthernetSegmentRoute(rdOf(), zeroESI, "10.0.0.32"),
		bgppkt.NewEVPNIPPrefixRoute(rdOf(), zeroESI, 0, 24, "10.244.9.0", "0.0.0.0", 100),
		t2("02:00:00:00:00:0a", "10.244.0.10", 100),
	), nil))
	good("02:00:00:00:00:0a", "10.244.0.10")
	for i, nh := range []string{"0.0.0.0", "127.0.0.5", "224.0.0.5", "255.255.255.255", "0.1.2.3", hostileSelf} {
		mac := "02:00:00:00:01:0" + string(rune('0'+i))
		p.Send(reach(t, nh, 100, nlris(t2(mac, "10.244.1.1", 100),
			bgppkt.NewEVPNMulticastEthernetTagRoute(bgppkt.NewRouteDistinguisherIPAddressAS(hostileRD, uint16(10+i)), 0, nh)), nil))
	}
	p.Send(reach(t, hostileVTEP, 100, nlris(t2("02:00:00:00:00:0b", "10.244.0.11", 100)), nil))
	good("02:00:00:00:00:0b", "10.244.0.11")
	check("unknown VNI, route types 1, 4, 5, martian and own VTEPs")

	// Malformed attributes (RFC 7606 section 7): the UPDATE's routes are
	// withdrawn, here one announced just before with good attributes.
	for i, c := range []struct {
		name string
		attr []byte
		omit bgppkt.BGPAttrType
	}{
		{"ORIGIN value 7", []byte{0x40, 1, 1, 7}, bgppkt.BGP_ATTR_TYPE_ORIGIN},
		{"ORIGIN length 2", []byte{0x40, 1, 2, 0, 0}, bgppkt.BGP_ATTR_TYPE_ORIGIN},
		{"AS_PATH segment overrun", []byte{0x40, 2, 6, 2, 5, 0, 0, 0xfc, 0}, bgppkt.BGP_ATTR_TYPE_AS_PATH},
		{"NEXT_HOP length 3", []byte{0x40, 3, 3, 10, 0, 0}, 0},
		{"extended communities length 7", []byte{0xc0, 16, 7, 0, 2, 0, 0, 0, 0, 100}, 0},
		{"PMSI tunnel length 2", []byte{0xc0, 22, 2, 0, 6}, 0},
	} {
		mac := "02:00:00:00:02:0" + string(rune('0'+i))
		ip := "10.244.2." + string(rune('1'+i))
		n := nlris(t2(mac, ip, 100))
		p.Send(reach(t, hostileVTEP, 100, n, nil))
		waitRemote(t, h, sorted(append(want, fdbLine(mac, 100, hostileVTEP), neighLine(ip, mac, 100))...), sessionTimeout)
		p.Send(reach(t, hostileVTEP, 100, n, [][]byte{c.attr}, c.omit))
		check(c.name)
	}

	for _, reason := range []string{"bad_mac", "bad_label", "outside_subnet", "unknown_vni", "unsupported", "martian_vtep", "own_vtep"} {
		if h.src.Rejected(reason) == 0 {
			t.Errorf("no route rejected for %s", reason)
		}
	}
	t.Logf("rejected: bad_mac %d bad_label %d outside_subnet %d unknown_vni %d unsupported %d martian_vtep %d own_vtep %d",
		h.src.Rejected("bad_mac"), h.src.Rejected("bad_label"), h.src.Rejected("outside_subnet"), h.src.Rejected("unknown_vni"),
		h.src.Rejected("unsupported"), h.src.Rejected("martian_vtep"), h.src.Rejected("own_vtep"))
}

// TestUnreadableNLRIResetsSession: an EVPN NLRI that cannot be read leaves
// no way to know which routes to withdraw; RFC 7606 5.3 then wants a
// session reset or AFI/SAFI disable. GoBGP resets the session for a
// decoder panic (our patch) and disabled the family for the rest; that
// disable kept every route learned before, so it is a reset too now
// (third_party/gobgp/PATCHES.md). Either way the peer gets a NOTIFICATION
// and what it announced before is gone from the desired state (it did not
// offer graceful restart).
func TestUnreadableNLRIResetsSession(t *testing.T) {
	for i, c := range []struct {
		name  string
		nlris []byte // MP_REACH_NLRI's NLRI field
		nh    []byte // its next-hop length and next hop; nil: 4, the peer's VTEP
	}{
		{name: "type-2 shorter than its RD", nlris: []byte{2, 3, 0, 0, 1}},
		{name: "length beyond the attribute", nlris: []byte{2, 33, 0, 1}},
		{name: "unknown route type", nlris: []byte{200, 4, 1, 2, 3, 4}},
		{name: "ESI type 1 with a non-zero last octet", nlris: append([]byte{2, 33, 0, 1, 10, 0, 0, 32, 0, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9},
			0, 0, 0, 0, 48, 2, 0, 0, 0, 0, 0x77, 0, 0, 0, 100)},
		{name: "next-hop length 3", nlris: t2bytes(), nh: []byte{3, 192, 0, 2}},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			// A fresh address pair per case: GoBGP damps a peer that falls
			// again and again.
			p := newHostilePeer(t, "127.0.1."+strconv.Itoa(10+2*i), "127.0.1."+strconv.Itoa(11+2*i))
			p.Send(reach(t, hostileVTEP, 100, nlris(t2("02:00:00:00:03:01", "10.244.3.1", 100)), nil))
			waitRemote(t, p.h, sorted(fdbLine("02:00:00:00:03:01", 100, hostileVTEP), neighLine("10.244.3.1", "02:00:00:00:03:01", 100)), sessionTimeout)
			nh := c.nh
			if nh == nil {
				nh = []byte{4, 192, 0, 2, 32}
			}
			mp := append(append(append([]byte{0x80, 14, byte(3 + len(nh) + 1 + len(c.nlris)), 0, 25, 70}, nh...), 0), c.nlris...)
			p.Send(bgptest.RawUpdate([]byte{0x40, 1, 1, 0}, []byte{0x40, 2, 0}, mp))
			bgptest.WaitFor(t, "the session to end", 5*time.Second, func() bool { _, err := p.state(); return err != nil })
			n, err := p.state()
			if n == nil || n.ErrorCode != bgppkt.BGP_ERROR_UPDATE_MESSAGE_ERROR {
				t.Fatalf("session ended (%v) with notification %+v, want an UPDATE message error", err, n)
			}
			t.Logf("NOTIFICATION code %d subcode %d", n.ErrorCode, n.ErrorSubcode)
			waitRemote(t, p.h, nil, sessionTimeout)
			if _, err := p.h.Peers(context.Background()); err != nil {
				t.Fatalf("the speaker after the malformed UPDATE: %v", err)
			}
		})
	}
}

// t2bytes is a well-formed type-2 NLRI.
func t2bytes() []byte {
	b, err := t2("02:00:00:00:03:09", "10.244.3.9", 100).Serialize()
	if err != nil {
		panic(err)
	}
	return b
}
