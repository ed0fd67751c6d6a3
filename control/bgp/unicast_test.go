package bgp_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// Our unicast paths are what GoBGP's native builders make, and decode back.
func TestUnicastPath(t *testing.T) {
	for _, tt := range []struct {
		prefix, nexthop string
		want            string // prefix after masking
		wantErr         string
	}{
		{prefix: "10.244.1.0/24", nexthop: "192.0.2.1", want: "10.244.1.0/24"},
		{prefix: "10.244.1.7/24", nexthop: "192.0.2.1", want: "10.244.1.0/24"},
		{prefix: "0.0.0.0/0", nexthop: "192.0.2.1", want: "0.0.0.0/0"},
		{prefix: "10.244.1.5/32", nexthop: "192.0.2.1", want: "10.244.1.5/32"},
		{prefix: "fd00:10:244:1::/64", nexthop: "2001:db8::1", want: "fd00:10:244:1::/64"},
		{prefix: "::/0", nexthop: "2001:db8::1", want: "::/0"},
		{prefix: "10.244.1.0/24", nexthop: "2001:db8::1", wantErr: "not of the prefix's address family"},
		{prefix: "fd00::/64", nexthop: "192.0.2.1", wantErr: "not of the prefix's address family"},
		{prefix: "fd00::/64", nexthop: "::ffff:192.0.2.1", wantErr: "not of the prefix's address family"},
		{prefix: "::ffff:10.0.0.0/104", nexthop: "2001:db8::1", wantErr: "IPv4-mapped"},
		{prefix: "", nexthop: "192.0.2.1", wantErr: "not valid"},
	} {
		t.Run(tt.prefix+" via "+tt.nexthop, func(t *testing.T) {
			pfx, _ := netip.ParsePrefix(tt.prefix)
			nh, _ := netip.ParseAddr(tt.nexthop)
			p, err := bgp.NewUnicastPath(pfx, nh)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := bgp.CheckPath(p); err != nil {
				t.Fatalf("checkPath: %v", err)
			}
			want := unicast(t, tt.want, tt.nexthop)
			gotN, _ := apiutil.GetNativeNlri(p)
			wantN, _ := apiutil.GetNativeNlri(want)
			gb, _ := gotN.Serialize()
			wb, _ := wantN.Serialize()
			if !slices.Equal(gb, wb) || gotN.String() != wantN.String() {
				t.Errorf("nlri %s (% x), want %s (% x)", gotN, gb, wantN, wb)
			}
			if got, want := nextHopAttr(t, p), nextHopAttr(t, want); got != want {
				t.Errorf("next hop attribute %s, want %s", got, want)
			}
			dp, up, err := bgp.DecodeUnicast(p)
			if err != nil || dp.String() != tt.want || up.NextHop.String() != tt.nexthop {
				t.Errorf("decode: %s %+v %v", dp, up, err)
			}
		})
	}
}

// nextHopAttr renders the native next-hop attribute: which kind, which address.
func nextHopAttr(t testing.TB, p *api.Path) string {
	t.Helper()
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgppkt.PathAttributeNextHop:
			return "NEXT_HOP " + a.Value.String()
		case *bgppkt.PathAttributeMpReachNLRI:
			return "MP_REACH " + a.Nexthop.String()
		}
	}
	return "none"
}

func TestDecodeUnicast(t *testing.T) {
	withPeer := func(p *api.Path, peer string) *api.Path { p.NeighborIp = peer; return p }
	v6 := func(linkLocal bool) *api.Path {
		nlri := bgppkt.NewIPv6AddrPrefix(64, "fd00:10:244:1::")
		mp := bgppkt.NewPathAttributeMpReachNLRI("2001:db8::1", []bgppkt.AddrPrefixInterface{nlri})
		if linkLocal {
			mp.LinkLocalNexthop = net.ParseIP("fe80::1")
		}
		return withPeer(newPath(t, nlri, bgppkt.NewPathAttributeOrigin(0), mp), "10.0.0.9")
	}
	noNextHop := func() *api.Path {
		return newPath(t, bgppkt.NewIPAddrPrefix(24, "10.244.1.0"), bgppkt.NewPathAttributeOrigin(0))
	}
	withdrawn := func() *api.Path {
		p := unicast(t, "10.244.1.0/24", "192.0.2.1")
		p.IsWithdraw, p.NeighborIp = true, "10.0.0.9"
		return p
	}
	for _, tt := range []struct {
		name    string
		p       *api.Path
		prefix  string
		want    bgp.UnicastPath
		wantErr error // bgp.ErrNoNextHop or any (non-nil) error
	}{
		{"ipv4 from a peer", withPeer(unicast(t, "10.244.1.0/24", "192.0.2.1"), "10.0.0.9"), "10.244.1.0/24",
			bgp.UnicastPath{NextHop: netip.MustParseAddr("192.0.2.1"), Peer: "10.0.0.9"}, nil},
		{"our own", withPeer(unicast(t, "10.244.1.0/24", "192.0.2.1"), "<nil>"), "10.244.1.0/24",
			bgp.UnicastPath{NextHop: netip.MustParseAddr("192.0.2.1")}, nil},
		{"ipv6", v6(false), "fd00:10:244:1::/64", bgp.UnicastPath{NextHop: netip.MustParseAddr("2001:db8::1"), Peer: "10.0.0.9"}, nil},
		{"ipv6 global and link-local: the global one", v6(true), "fd00:10:244:1::/64",
			bgp.UnicastPath{NextHop: netip.MustParseAddr("2001:db8::1"), Peer: "10.0.0.9"}, nil},
		{"withdrawal", withdrawn(), "10.244.1.0/24", bgp.UnicastPath{Peer: "10.0.0.9"}, nil},
		{"no next hop", noNextHop(), "10.244.1.0/24", bgp.UnicastPath{}, bgp.ErrNoNextHop},
		{"not unicast", imet(t, "10.0.0.1", 1, 100, "192.0.2.1"), "invalid Prefix", bgp.UnicastPath{}, errors.New("any")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pfx, up, err := bgp.DecodeUnicast(tt.p)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err %v", err)
			case tt.wantErr == bgp.ErrNoNextHop && !errors.Is(err, bgp.ErrNoNextHop):
				t.Fatalf("err %v, want %v", err, bgp.ErrNoNextHop)
			case tt.wantErr != nil && err == nil:
				t.Fatal("no error")
			}
			if pfx.String() != tt.prefix || up != tt.want {
				t.Fatalf("got %s %+v, want %s %+v", pfx, up, tt.prefix, tt.want)
			}
		})
	}
}

// One watch event becomes one call per prefix with its whole path set.
func TestUnicastRoutesGrouping(t *testing.T) {
	from := func(p *api.Path, peer string) *api.Path { p.NeighborIp = peer; return p }
	gone := unicast(t, "fd00::/64", "2001:db8::1")
	gone.IsWithdraw = true
	event := []*api.Path{
		from(unicast(t, "0.0.0.0/0", "192.0.2.1"), "10.0.0.1"),
		from(unicast(t, "0.0.0.0/0", "192.0.2.2"), "10.0.0.2"),
		imet(t, "10.0.0.1", 1, 100, "192.0.2.1"),
		gone,
	}
	var got []string
	bgp.UnicastRoutes(event, func(pfx netip.Prefix, paths []bgp.UnicastPath) {
		got = append(got, fmt.Sprintf("%s %v", pfx, paths))
	})
	want := []string{"0.0.0.0/0 [{192.0.2.1 10.0.0.1} {192.0.2.2 10.0.0.2}]", "fd00::/64 []"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
