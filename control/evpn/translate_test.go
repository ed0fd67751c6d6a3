package evpn

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/protobuf/proto"
	apb "google.golang.org/protobuf/types/known/anypb"

	"github.com/vxbgp/vxbgp/overlay"
)

var (
	rid1  = netip.MustParseAddr("10.0.0.1")
	vtep1 = netip.MustParseAddr("192.0.2.1")
	mac1  = overlay.MustParseMAC("02:42:0a:f4:01:05")
	ip1   = netip.MustParseAddr("10.244.1.5")
)

// viaGoBGP passes p through what GoBGP does between AddPath and a peer's
// watcher: native conversion and back (toPathApi), plus the neighbour.
func viaGoBGP(t testing.TB, p *api.Path, neighbor string) *api.Path {
	t.Helper()
	n, err := apiutil.GetNativeNlri(p)
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := apiutil.NewPath(n, p.IsWithdraw, attrs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out.NeighborIp = neighbor
	return out
}

func TestTranslateRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		build func() (*api.Path, error)
		want  Route
		text  string // GoBGP's NLRI text
	}{
		{
			name:  "type-2 mac+ip",
			build: func() (*api.Path, error) { return Type2(64512, rid1, 1, 100, vtep1, mac1, ip1) },
			want: Route{Kind: RouteType2, RD: "10.0.0.1:1", MAC: mac1, IP: ip1, VNIs: []uint32{100}, Label: 100,
				NextHop: vtep1, Peer: "10.0.0.9"},
			text: "[type:macadv][rd:10.0.0.1:1][etag:0][mac:02:42:0a:f4:01:05][ip:10.244.1.5]",
		},
		{
			name:  "type-2 mac-only",
			build: func() (*api.Path, error) { return Type2(64512, rid1, 1, 100, vtep1, mac1, netip.Addr{}) },
			want:  Route{Kind: RouteType2, RD: "10.0.0.1:1", MAC: mac1, VNIs: []uint32{100}, Label: 100, NextHop: vtep1, Peer: "10.0.0.9"},
			text:  "[type:macadv][rd:10.0.0.1:1][etag:0][mac:02:42:0a:f4:01:05][ip:<nil>]",
		},
		{
			name: "type-2 ipv6, 4-byte asn, 24-bit vni",
			build: func() (*api.Path, error) {
				return Type2(4200000001, rid1, 7, 16777215, netip.MustParseAddr("2001:db8::1"), mac1, netip.MustParseAddr("fd00:10:244::5"))
			},
			want: Route{Kind: RouteType2, RD: "10.0.0.1:7", MAC: mac1, IP: netip.MustParseAddr("fd00:10:244::5"), VNIs: []uint32{16777215},
				Label: 16777215, NextHop: netip.MustParseAddr("2001:db8::1"), Peer: "10.0.0.9"},
			text: "[type:macadv][rd:10.0.0.1:7][etag:0][mac:02:42:0a:f4:01:05][ip:fd00:10:244::5]",
		},
		{
			name: "type-2 v4-mapped ip is unmapped",
			build: func() (*api.Path, error) {
				return Type2(64512, rid1, 1, 100, vtep1, mac1, netip.MustParseAddr("::ffff:10.244.1.5"))
			},
			want: Route{Kind: RouteType2, RD: "10.0.0.1:1", MAC: mac1, IP: ip1, VNIs: []uint32{100}, Label: 100,
				NextHop: vtep1, Peer: "10.0.0.9"},
			text: "[type:macadv][rd:10.0.0.1:1][etag:0][mac:02:42:0a:f4:01:05][ip:10.244.1.5]",
		},
		{
			name:  "type-3",
			build: func() (*api.Path, error) { return Type3(64512, rid1, 1, 100, vtep1) },
			want:  Route{Kind: RouteType3, RD: "10.0.0.1:1", VNIs: []uint32{100}, Label: 100, NextHop: vtep1, Originator: vtep1, Peer: "10.0.0.9"},
			text:  "[type:multicast][rd:10.0.0.1:1][etag:0][ip:192.0.2.1]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Key = "l2vpn-evpn|" + tt.text
			// As we built it (a local path, as our own watcher sees it) ...
			local := proto.Clone(p).(*api.Path)
			local.NeighborIp = "<nil>"
			got, err := Decode(local)
			if err != nil {
				t.Fatal(err)
			}
			wantLocal := tt.want
			wantLocal.Peer = ""
			if !reflect.DeepEqual(got, wantLocal) {
				t.Errorf("decode local:\n got %+v\nwant %+v", got, wantLocal)
			}
			// ... and as a peer receives it after GoBGP's conversions.
			got, err = Decode(viaGoBGP(t, p, "10.0.0.9"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decode received:\n got %+v\nwant %+v", got, tt.want)
			}
			// ... and as the speaker's watch hands it over, unconverted.
			got, err = DecodeRx(rxOf(t, p, "10.0.0.9"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decode rx:\n got %+v\nwant %+v", got, tt.want)
			}
			// Key is GoBGP's destination text.
			n, _ := apiutil.GetNativeNlri(p)
			if n.String() != tt.text {
				t.Errorf("gobgp text %q, want %q", n.String(), tt.text)
			}
			// A withdrawal decodes to the same key.
			w := viaGoBGP(t, p, "10.0.0.9")
			w.IsWithdraw = true
			if got, err := Decode(w); err != nil || !got.Withdraw || got.Key != tt.want.Key {
				t.Errorf("withdraw: %+v %v", got, err)
			}
		})
	}
}

func TestTranslateRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		build func() (*api.Path, error)
		want  string
	}{
		{"router id v6", func() (*api.Path, error) { return Type3(1, netip.MustParseAddr("2001:db8::1"), 1, 100, vtep1) }, "router id"},
		{"router id missing", func() (*api.Path, error) { return Type2(1, netip.Addr{}, 1, 100, vtep1, mac1, ip1) }, "router id"},
		{"vni 0", func() (*api.Path, error) { return Type3(1, rid1, 1, 0, vtep1) }, "vni 0"},
		{"vni too large", func() (*api.Path, error) { return Type2(1, rid1, 1, 1<<24, vtep1, mac1, ip1) }, "vni 16777216"},
		{"no vtep", func() (*api.Path, error) { return Type3(1, rid1, 1, 100, netip.Addr{}) }, "vtep"},
		{"unspecified vtep", func() (*api.Path, error) { return Type2(1, rid1, 1, 100, netip.IPv4Unspecified(), mac1, ip1) }, "vtep"},
		{"zero mac", func() (*api.Path, error) { return Type2(1, rid1, 1, 100, vtep1, overlay.MAC{}, ip1) }, "not a unicast mac"},
		{"multicast mac", func() (*api.Path, error) {
			return Type2(1, rid1, 1, 100, vtep1, overlay.MustParseMAC("01:00:5e:00:00:01"), ip1)
		}, "not a unicast mac"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.build()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, %v; want an error containing %q", p, err, tt.want)
			}
		})
	}
}

func anyOf(t testing.TB, m proto.Message) *apb.Any {
	t.Helper()
	a, err := apb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecodeMalformedAndUnsupported(t *testing.T) {
	good, err := Type2(64512, rid1, 1, 100, vtep1, mac1, ip1)
	if err != nil {
		t.Fatal(err)
	}
	good3, err := Type3(64512, rid1, 1, 100, vtep1)
	if err != nil {
		t.Fatal(err)
	}
	evpn := evpnFamily()
	rd := anyOf(t, &api.RouteDistinguisherIPAddress{Admin: "10.0.0.1", Assigned: 1})
	native := func(n bgp.AddrPrefixInterface) *apb.Any {
		a, err := apiutil.MarshalNLRI(n)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	nrd := bgp.NewRouteDistinguisherIPAddressAS("10.0.0.1", 1)
	withAttrs := func(p *api.Path, extra ...*apb.Any) *api.Path {
		q := proto.Clone(p).(*api.Path)
		q.Pattrs = append(q.Pattrs, extra...)
		return q
	}
	nlri := func(m proto.Message, attrs ...*apb.Any) *api.Path {
		return &api.Path{Family: evpn, Nlri: anyOf(t, m), Pattrs: attrs}
	}
	nh := anyOf(t, &api.NextHopAttribute{NextHop: "192.0.2.1"})
	comms := func(cs ...proto.Message) *apb.Any {
		var l []*apb.Any
		for _, c := range cs {
			l = append(l, anyOf(t, c))
		}
		return anyOf(t, &api.ExtendedCommunitiesAttribute{Communities: l})
	}
	macip := &api.EVPNMACIPAdvertisementRoute{Rd: rd, MacAddress: "02:00:00:00:00:01", Labels: []uint32{100}} // nil ESI
	tests := []struct {
		name string
		p    *api.Path
		err  error            // nil => decodes
		want func(Route) bool // checked when err is nil
	}{
		{name: "nil path", p: nil, err: ErrMalformed},
		{name: "no family", p: &api.Path{Nlri: good.Nlri}, err: ErrMalformed},
		{name: "end-of-rib", p: &api.Path{Family: evpn, NeighborIp: "10.0.0.9"}, err: ErrMalformed},
		{name: "ipv4 unicast", p: &api.Path{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Nlri: good.Nlri}, err: ErrUnsupported},
		{name: "garbage nlri", p: &api.Path{Family: evpn, Nlri: &apb.Any{TypeUrl: good.Nlri.TypeUrl, Value: []byte{0xff, 0xff, 0xff}}}, err: ErrMalformed},
		{name: "unknown nlri type", p: &api.Path{Family: evpn, Nlri: &apb.Any{TypeUrl: "type.googleapis.com/nope.Nope"}}, err: ErrMalformed},
		{name: "type-1", p: &api.Path{Family: evpn, Nlri: native(bgp.NewEVPNEthernetAutoDiscoveryRoute(nrd, bgp.EthernetSegmentIdentifier{}, 0, 100))}, err: ErrUnsupported},
		{name: "type-4", p: &api.Path{Family: evpn, Nlri: native(bgp.NewEVPNEthernetSegmentRoute(nrd, bgp.EthernetSegmentIdentifier{}, "192.0.2.1"))}, err: ErrUnsupported},
		{name: "type-5", p: &api.Path{Family: evpn, Nlri: native(bgp.NewEVPNIPPrefixRoute(nrd, bgp.EthernetSegmentIdentifier{}, 0, 24, "10.244.1.0", "0.0.0.0", 5000))}, err: ErrUnsupported},
		{name: "nil esi decodes", p: nlri(macip, nh), want: func(r Route) bool { return r.MAC == overlay.MustParseMAC("02:00:00:00:00:01") && !r.IP.IsValid() }},
		{name: "no rd", p: nlri(&api.EVPNMACIPAdvertisementRoute{MacAddress: "02:00:00:00:00:01"}, nh), err: ErrMalformed},
		{name: "bad mac", p: nlri(&api.EVPNMACIPAdvertisementRoute{Rd: rd, MacAddress: "zz"}, nh), err: ErrMalformed},
		{name: "bad ip", p: nlri(&api.EVPNMACIPAdvertisementRoute{Rd: rd, MacAddress: "02:00:00:00:00:01", IpAddress: "1.2.3"}, nh), err: ErrMalformed},
		{name: "0.0.0.0 ip is mac-only", p: nlri(&api.EVPNMACIPAdvertisementRoute{Rd: rd, MacAddress: "02:00:00:00:00:01", IpAddress: "0.0.0.0"}, nh),
			want: func(r Route) bool { return !r.IP.IsValid() && strings.HasSuffix(r.Key, "[ip:0.0.0.0]") }},
		{name: "type-2 without next hop", p: nlri(macip), err: ErrMalformed},
		{name: "withdraw without next hop", p: &api.Path{Family: evpn, Nlri: anyOf(t, macip), IsWithdraw: true}, want: func(r Route) bool { return r.Withdraw }},
		{name: "bad next hop", p: nlri(macip, anyOf(t, &api.NextHopAttribute{NextHop: "x"})), err: ErrMalformed},
		{name: "type-3 bad originator", p: nlri(&api.EVPNInclusiveMulticastEthernetTagRoute{Rd: rd, IpAddress: "<nil>"}, nh), err: ErrMalformed},
		{name: "garbage attribute", p: withAttrs(good, &apb.Any{TypeUrl: nh.TypeUrl, Value: []byte{0xff}}), err: ErrMalformed},
		{name: "garbage community", p: withAttrs(good, anyOf(t, &api.ExtendedCommunitiesAttribute{Communities: []*apb.Any{{TypeUrl: "type.googleapis.com/nope.Nope"}}})), err: ErrMalformed},
		{name: "pmsi pim-ssm", p: nlri(&api.EVPNInclusiveMulticastEthernetTagRoute{Rd: rd, IpAddress: "192.0.2.1"}, nh, anyOf(t, &api.PmsiTunnelAttribute{Type: 3})), err: ErrUnsupported},
		{name: "duplicated attribute", p: withAttrs(good3, anyOf(t, &api.PmsiTunnelAttribute{Type: 3})), err: ErrMalformed},
		{name: "mpls encapsulation", p: nlri(macip, nh, comms(&api.EncapExtended{TunnelType: 10})), err: ErrUnsupported},
		{name: "vxlan among encapsulations", p: nlri(macip, nh, comms(&api.EncapExtended{TunnelType: 10}, &api.EncapExtended{TunnelType: 8})), want: func(r Route) bool { return true }},
		{
			name: "route targets of every kind, deduplicated, rfc8365 type bits masked",
			p: nlri(macip, nh, comms(
				&api.TwoOctetAsSpecificExtended{IsTransitive: true, SubType: 2, Asn: 65000, LocalAdmin: 100},
				&api.TwoOctetAsSpecificExtended{IsTransitive: true, SubType: 2, Asn: 65001, LocalAdmin: 100},
				&api.TwoOctetAsSpecificExtended{IsTransitive: true, SubType: 2, Asn: 65000, LocalAdmin: 0x10000000 | 200},
				&api.FourOctetAsSpecificExtended{IsTransitive: true, SubType: 2, Asn: 4200000000, LocalAdmin: 300},
				&api.IPv4AddressSpecificExtended{IsTransitive: true, SubType: 2, Address: "10.0.0.1", LocalAdmin: 400},
				&api.TwoOctetAsSpecificExtended{IsTransitive: true, SubType: 3, Asn: 65000, LocalAdmin: 500}, // route origin, not a target
				&api.MacMobilityExtended{SequenceNum: 7},
			)),
			want: func(r Route) bool {
				return slices.Equal(r.VNIs, []uint32{100, 200, 300, 400}) && r.Seq == 7 && !r.Sticky
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.p)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v (route %+v)", err, tt.err, got)
				}
				// An error comes with nothing, or with the NLRI's key
				// alone (for treat-as-withdraw).
				if keyOnly := (Route{Kind: got.Kind, Key: got.Key, Peer: got.Peer}); !reflect.DeepEqual(got, keyOnly) ||
					(got.Key == "") != (got.Kind == 0) {
					t.Fatalf("error with more than a key: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(got) {
				t.Fatalf("unexpected route %+v", got)
			}
		})
	}
}

func must(p *api.Path, err error) *api.Path {
	if err != nil {
		panic(err)
	}
	return p
}

func TestWithMobility(t *testing.T) {
	p := must(Type2(64512, rid1, 1, 100, vtep1, mac1, ip1))
	for _, tt := range []struct {
		seq    uint32
		sticky bool
	}{{1, false}, {7, true}} {
		q, err := WithMobility(p, tt.seq, tt.sticky)
		if err != nil {
			t.Fatal(err)
		}
		// GoBGP accepts it, and a peer decodes the sequence.
		r, err := Decode(viaGoBGP(t, q, "10.0.0.9"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != tt.seq || r.Sticky != tt.sticky || !slices.Equal(r.VNIs, []uint32{100}) {
			t.Fatalf("seq %d sticky %v: decoded %+v", tt.seq, tt.sticky, r)
		}
	}
	// p itself is unchanged.
	if r, _ := Decode(p); r.Seq != 0 {
		t.Fatalf("WithMobility modified its input: %+v", r)
	}
	// A path without extended communities gets the attribute.
	bare := &api.Path{Family: p.Family, Nlri: p.Nlri, Pattrs: p.Pattrs[:2]}
	q, err := WithMobility(bare, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Decode(q); err != nil || r.Seq != 3 {
		t.Fatalf("bare path: %+v %v", r, err)
	}
}
