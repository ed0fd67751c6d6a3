package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
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
			p, err := unicastPath(pfx, nh)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := checkPath(p); err != nil {
				t.Fatalf("checkPath: %v", err)
			}
			want := unicastNative(t, tt.want, tt.nexthop)
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
			dp, up, err := decodeUnicast(p)
			if err != nil || dp.String() != tt.want || up.NextHop.String() != tt.nexthop {
				t.Errorf("decode: %s %+v %v", dp, up, err)
			}
		})
	}
}

// unicastNative builds the path with GoBGP's native types, the way GoBGP
// itself hands received paths to watchers.
func unicastNative(t testing.TB, prefix, nexthop string) *api.Path {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	if pfx.Addr().Is4() {
		return unicast(t, prefix, nexthop)
	}
	nlri := bgp.NewIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
	p, err := apiutil.NewPath(nlri, false, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI(nexthop, []bgp.AddrPrefixInterface{nlri}),
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
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
		case *bgp.PathAttributeNextHop:
			return "NEXT_HOP " + a.Value.String()
		case *bgp.PathAttributeMpReachNLRI:
			return "MP_REACH " + a.Nexthop.String()
		}
	}
	return "none"
}

func TestDecodeUnicast(t *testing.T) {
	withPeer := func(p *api.Path, peer string) *api.Path { p.NeighborIp = peer; return p }
	v6 := func(linkLocal bool) *api.Path {
		nlri := bgp.NewIPv6AddrPrefix(64, "fd00:10:244:1::")
		mp := bgp.NewPathAttributeMpReachNLRI("2001:db8::1", []bgp.AddrPrefixInterface{nlri})
		if linkLocal {
			mp.LinkLocalNexthop = net.ParseIP("fe80::1")
		}
		p, err := apiutil.NewPath(nlri, false, []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), mp}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return withPeer(p, "10.0.0.9")
	}
	noNextHop := func() *api.Path {
		nlri := bgp.NewIPAddrPrefix(24, "10.244.1.0")
		p, err := apiutil.NewPath(nlri, false, []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
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
		want    UnicastPath
		wantErr error // errNoNextHop or any (non-nil) error
	}{
		{"ipv4 from a peer", withPeer(unicast(t, "10.244.1.0/24", "192.0.2.1"), "10.0.0.9"), "10.244.1.0/24",
			UnicastPath{NextHop: netip.MustParseAddr("192.0.2.1"), Peer: "10.0.0.9"}, nil},
		{"our own", withPeer(unicast(t, "10.244.1.0/24", "192.0.2.1"), "<nil>"), "10.244.1.0/24",
			UnicastPath{NextHop: netip.MustParseAddr("192.0.2.1")}, nil},
		{"ipv6", v6(false), "fd00:10:244:1::/64", UnicastPath{NextHop: netip.MustParseAddr("2001:db8::1"), Peer: "10.0.0.9"}, nil},
		{"ipv6 global and link-local: the global one", v6(true), "fd00:10:244:1::/64",
			UnicastPath{NextHop: netip.MustParseAddr("2001:db8::1"), Peer: "10.0.0.9"}, nil},
		{"withdrawal", withdrawn(), "10.244.1.0/24", UnicastPath{Peer: "10.0.0.9"}, nil},
		{"no next hop", noNextHop(), "10.244.1.0/24", UnicastPath{}, errNoNextHop},
		{"not unicast", imet(t, "10.0.0.1", 1, 100, "192.0.2.1"), "invalid Prefix", UnicastPath{}, errors.New("any")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pfx, up, err := decodeUnicast(tt.p)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err %v", err)
			case tt.wantErr == errNoNextHop && !errors.Is(err, errNoNextHop):
				t.Fatalf("err %v, want %v", err, errNoNextHop)
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
	s := &Speaker{log: slog.New(slog.DiscardHandler)}
	from := func(p *api.Path, peer string) *api.Path { p.NeighborIp = peer; return p }
	gone := unicastNative(t, "fd00::/64", "2001:db8::1")
	gone.IsWithdraw = true
	event := []*api.Path{
		from(unicast(t, "0.0.0.0/0", "192.0.2.1"), "10.0.0.1"),
		from(unicast(t, "0.0.0.0/0", "192.0.2.2"), "10.0.0.2"),
		imet(t, "10.0.0.1", 1, 100, "192.0.2.1"),
		gone,
	}
	var got []string
	s.unicastRoutes(event, func(pfx netip.Prefix, paths []UnicastPath) {
		got = append(got, fmt.Sprintf("%s %v", pfx, paths))
	})
	want := []string{"0.0.0.0/0 [{192.0.2.1 10.0.0.1} {192.0.2.2 10.0.0.2}]", "fd00::/64 []"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestImportSets(t *testing.T) {
	p := netip.MustParsePrefix
	sets := importSets(
		[]netip.Prefix{p("10.244.0.0/16"), p("fd00:10:244::/48"), p("10.244.0.0/16"), p("10.96.1.1/16")},
		[]netip.Prefix{p("0.0.0.0/0"), p("::/0"), p("10.244.5.0/24")},
	)
	var got []string
	for _, ds := range sets {
		for _, e := range ds.Prefixes {
			got = append(got, fmt.Sprintf("%s %s %d..%d", ds.Name, e.IpPrefix, e.MaskLengthMin, e.MaskLengthMax))
		}
	}
	want := []string{
		"import-ipv4 10.244.0.0/16 16..32",
		"import-ipv4 10.96.0.0/16 16..32",
		"import-ipv6 fd00:10:244::/48 48..128",
		"import-ipv4-exact 0.0.0.0/0 0..0",
		"import-ipv4-exact 10.244.5.0/24 24..24",
		"import-ipv6-exact ::/0 0..0",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sets:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(importSets(nil, nil)) != 0 {
		t.Fatal("empty sets built")
	}
}

// uniRecorder collects what WatchUnicast delivers.
type uniRecorder struct {
	*recorder // EOR and peer events
	mu        sync.Mutex
	routes    map[netip.Prefix][]UnicastPath
	calls     int
}

func watchUnicast(t *testing.T, s *Speaker) *uniRecorder {
	t.Helper()
	r := &uniRecorder{recorder: newRecorder(), routes: map[netip.Prefix][]UnicastPath{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.WatchUnicast(ctx, func(pfx netip.Prefix, paths []UnicastPath) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.calls++
			if len(paths) == 0 {
				delete(r.routes, pfx)
				return
			}
			r.routes[pfx] = slices.Clone(paths)
		}, r.onEOR, r.onPeer)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("watch unicast: %v", err)
		}
	})
	return r
}

// text renders the current routes as "prefix nexthop@peer,..." lines,
// paths sorted, for comparison.
func (r *uniRecorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for pfx, paths := range r.routes {
		var ps []string
		for _, p := range paths {
			peer := p.Peer
			if peer == "" {
				peer = "local"
			}
			ps = append(ps, p.NextHop.String()+"@"+peer)
		}
		slices.Sort(ps)
		lines = append(lines, pfx.String()+" "+strings.Join(ps, ","))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// waitRoutes waits until the recorder shows exactly want.
func waitRoutes(t *testing.T, r *uniRecorder, what string, want ...string) {
	t.Helper()
	slices.Sort(want)
	w := strings.Join(want, "\n")
	deadline := time.Now().Add(sessionTimeout)
	for r.text() != w {
		if time.Now().After(deadline) {
			t.Fatalf("%s: routes\n%s\nwant\n%s", what, r.text(), w)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
