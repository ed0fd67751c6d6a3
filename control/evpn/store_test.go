package evpn

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

var (
	selfVTEP = netip.MustParseAddr("192.0.2.1")
	vtepA    = netip.MustParseAddr("192.0.2.10")
	vtepC    = netip.MustParseAddr("192.0.2.30")
)

func testNetworks() []Network {
	dev := func(vni uint32, gw string) overlay.Device {
		return overlay.Device{VNI: vni, Bridge: overlay.BridgeName(vni), VXLAN: overlay.VXLANName(vni), VTEP: selfVTEP,
			Underlay: "eth0", Port: 4789, MTU: 1450, GatewayMAC: overlay.DefaultGatewayMAC, Gateway: netip.MustParsePrefix(gw)}
	}
	return []Network{
		{Name: "pods", VNI: 100, Subnets: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, RDIndex: 1, Device: dev(100, "10.244.0.1/16")},
		{Name: "db", VNI: 200, Subnets: []netip.Prefix{netip.MustParsePrefix("10.245.0.0/16")}, RDIndex: 2, Device: dev(200, "10.245.0.1/16")},
	}
}

func byVNI(nets []Network) map[uint32]*Network {
	m := map[uint32]*Network{}
	for i := range nets {
		m[nets[i].VNI] = &nets[i]
	}
	return m
}

// rt2 and rt3 are received routes as Decode returns them.
func rt2(vtep netip.Addr, mac, ip string, seq uint32, vnis ...uint32) Route {
	r := Route{Kind: RouteType2, RD: vtep.String() + ":1", MAC: overlay.MustParseMAC(mac), VNIs: vnis, Label: vnis[0], NextHop: vtep, Seq: seq, Peer: "10.0.0.99"}
	ipText := "<nil>"
	if ip != "" {
		r.IP = netip.MustParseAddr(ip)
		ipText = ip
	}
	r.Key = fmt.Sprintf("l2vpn-evpn|[type:macadv][rd:%s][etag:0][mac:%s][ip:%s]", r.RD, mac, ipText)
	return r
}

func rt3(vtep netip.Addr, vnis ...uint32) Route {
	return Route{Kind: RouteType3, RD: vtep.String() + ":1", VNIs: vnis, Label: vnis[0], NextHop: vtep, Originator: vtep, Peer: "10.0.0.99",
		Key: fmt.Sprintf("l2vpn-evpn|[type:multicast][rd:%s:1][etag:0][ip:%s]", vtep, vtep)}
}

// remote renders only the remote entries of a state (devices are constant).
func remote(st overlay.State) string {
	var lines []string
	for _, l := range strings.Split(st.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "link ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func TestBuildState(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		want   []string
	}{
		{name: "nothing", want: nil},
		{
			name:   "type-3 joins the flood list of its vni",
			routes: []Route{rt3(vtepA, 100)},
			want:   []string{"fdb 00:00:00:00:00:00 dev vxlan100 dst 192.0.2.10 self permanent"},
		},
		{
			name:   "type-2 with ip inside the subnet: fdb and neighbour",
			routes: []Route{rt2(vtepA, "02:00:00:00:00:01", "10.244.1.5", 0, 100)},
			want: []string{
				"fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn",
				"neigh 10.244.1.5 lladdr 02:00:00:00:00:01 dev vxbr100 nud noarp extern_learn",
			},
		},
		{
			name:   "ip outside the subnet: the mac still applies",
			routes: []Route{rt2(vtepA, "02:00:00:00:00:01", "192.168.1.5", 0, 100)},
			want:   []string{"fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn"},
		},
		{
			name:   "unknown vni and our own vtep are ignored",
			routes: []Route{rt2(vtepA, "02:00:00:00:00:01", "10.244.1.5", 0, 999), rt3(vtepA, 999), rt2(selfVTEP, "02:00:00:00:00:02", "", 0, 100), rt3(selfVTEP, 100)},
			want:   nil,
		},
		{
			name:   "a route with two targets applies to both networks",
			routes: []Route{rt3(vtepA, 100, 200, 999)},
			want: []string{
				"fdb 00:00:00:00:00:00 dev vxlan100 dst 192.0.2.10 self permanent",
				"fdb 00:00:00:00:00:00 dev vxlan200 dst 192.0.2.10 self permanent",
			},
		},
		{
			name: "mac move: the higher sequence wins over the lower vtep",
			routes: []Route{
				rt2(vtepA, "02:00:00:00:00:01", "10.244.1.5", 0, 100),
				rt2(vtepC, "02:00:00:00:00:01", "10.244.1.5", 1, 100),
			},
			want: []string{
				"fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.30 self master extern_learn",
				"neigh 10.244.1.5 lladdr 02:00:00:00:00:01 dev vxbr100 nud noarp extern_learn",
			},
		},
		{
			name: "same sequence: the lowest vtep wins",
			routes: []Route{
				rt2(vtepC, "02:00:00:00:00:01", "", 3, 100),
				rt2(vtepA, "02:00:00:00:00:01", "", 3, 100),
			},
			want: []string{"fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn"},
		},
		{
			name: "an ip claimed by two macs: the winner's mac",
			routes: []Route{
				rt2(vtepA, "02:00:00:00:00:01", "10.244.1.5", 0, 100),
				rt2(vtepC, "02:00:00:00:00:02", "10.244.1.5", 2, 100),
			},
			want: []string{
				"fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn",
				"fdb 02:00:00:00:00:02 dev vxlan100 dst 192.0.2.30 self master extern_learn",
				"neigh 10.244.1.5 lladdr 02:00:00:00:00:02 dev vxbr100 nud noarp extern_learn",
			},
		},
	}
	nets := testNetworks()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every insertion order gives the same state.
			for shift := range max(1, len(tt.routes)) {
				entries := map[rxKey]*entry{}
				for i := range tt.routes {
					r := tt.routes[(i+shift)%len(tt.routes)]
					k := keyOf(r)
					e, _, _ := contributions(r, k, byVNI(nets), selfVTEP)
					entries[k] = e
				}
				st := buildState(nets, entries)
				if len(st.Devices) != 2 {
					t.Fatalf("devices %v", st.Devices)
				}
				if got, want := remote(st), strings.Join(tt.want, "\n"); got != want {
					t.Fatalf("order %d:\n%s\nwant\n%s", shift, got, want)
				}
			}
		})
	}
}

func TestIngest(t *testing.T) {
	s := NewSource(Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
	a := rt2(vtepA, "02:00:00:00:00:01", "10.244.1.5", 0, 100)
	moved := a
	moved.NextHop = vtepC
	withdraw := a
	withdraw.Withdraw = true
	foreign := rt3(vtepA, 999)
	steps := []struct {
		name   string
		r      Route
		change bool
		want   string
	}{
		{"add", a, true, "fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn\nneigh 10.244.1.5 lladdr 02:00:00:00:00:01 dev vxbr100 nud noarp extern_learn"},
		{"refresh (graceful restart) changes nothing", a, false, "fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn\nneigh 10.244.1.5 lladdr 02:00:00:00:00:01 dev vxbr100 nud noarp extern_learn"},
		{"same key, new next hop: replace", moved, true, "fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.30 self master extern_learn\nneigh 10.244.1.5 lladdr 02:00:00:00:00:01 dev vxbr100 nud noarp extern_learn"},
		{"withdraw", withdraw, true, ""},
		{"withdraw again", withdraw, false, ""},
		{"foreign vni", foreign, false, ""},
	}
	for _, st := range steps {
		if got := s.ingest(st.r); got != st.change {
			t.Fatalf("%s: change %v, want %v", st.name, got, st.change)
		}
		if got := remote(buildState(s.cfg.Networks, s.rx)); got != st.want {
			t.Fatalf("%s:\n%s\nwant\n%s", st.name, got, st.want)
		}
	}
	// Ignored routes are still listed.
	if rs := s.Routes(); len(rs) != 1 || rs[0].Kind != RouteType3 || !slices.Equal(rs[0].VNIs, []uint32{999}) || rs[0].Peer != "10.0.0.99" {
		t.Fatalf("Routes: %+v", rs)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"asn", func(c *Config) { c.ASN = 0 }, "asn"},
		{"router id", func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") }, "router id"},
		{"vtep", func(c *Config) { c.VTEP = netip.Addr{} }, "vtep"},
		{"vni", func(c *Config) { c.Networks[1].VNI = 0 }, "networks[1] vni 0"},
		{"duplicate vni", func(c *Config) { c.Networks[1].VNI = 100 }, "vni 100: used twice"},
		{"duplicate rd", func(c *Config) { c.Networks[1].RDIndex = 1 }, "rd index 1: used twice"},
		{"duplicate name", func(c *Config) { c.Networks[1].Name = "pods" }, `name "pods": used twice`},
		{"subnet", func(c *Config) { c.Networks[0].Subnets = nil }, "networks[0] subnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.Networks = testNetworks()
			tt.modify(&c)
			if err := c.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// macRoutes returns the routes eps want, by key. Endpoints without a
// container ID get their index.
func macRoutes(s *Source, eps []endpoint.Endpoint) map[string]localRoute {
	out := map[string]localRoute{}
	for i, ep := range eps {
		if ep.ContainerID == "" {
			ep.ContainerID = fmt.Sprint(i)
		}
		for _, lr := range s.endpointRoutes(ep) {
			out[lr.route.Key] = lr
		}
	}
	return out
}

// PutEndpoint and DeleteEndpoint mark only what changed.
func TestEndpointDirty(t *testing.T) {
	s := NewSource(Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
	ep := func(id, ip string) endpoint.Endpoint {
		return endpoint.Endpoint{ContainerID: id, IfName: "eth0", Network: "pods", MAC: overlay.MustParseMAC("02:00:00:00:00:01"), IPs: []netip.Addr{netip.MustParseAddr(ip)}}
	}
	take := func() string {
		var d []string
		for k := range s.eps.Take() {
			d = append(d, k.String())
		}
		slices.Sort(d)
		return strings.Join(d, ",")
	}
	s.PutEndpoint(ep("a", "10.244.1.1"))
	s.PutEndpoint(ep("b", "10.244.1.2"))
	if d := take(); d != "a/eth0,b/eth0" {
		t.Fatalf("first puts: dirty %v", d)
	}
	s.PutEndpoint(ep("b", "10.244.1.3"))
	a := ep("a", "10.244.1.1")
	a.HostIf, a.Netns = "veth-new", "/run/netns/x" // not advertised: no work
	s.PutEndpoint(a)
	if d := take(); d != "b/eth0" {
		t.Fatalf("b changed, a's host side changed: dirty %v", d)
	}
	s.PutEndpoint(ep("c", "10.244.1.4"))
	s.DeleteEndpoint(endpoint.Key{ContainerID: "b", IfName: "eth0"})
	s.DeleteEndpoint(endpoint.Key{ContainerID: "nope", IfName: "eth0"})
	if d := take(); d != "b/eth0,c/eth0" {
		t.Fatalf("put c, del b, del unknown: dirty %v", d)
	}
}

func TestMacRoutes(t *testing.T) {
	s := NewSource(Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks(), Logger: slog.New(slog.DiscardHandler)}, nil, nil)
	got := macRoutes(s, []endpoint.Endpoint{
		ep("a", "pods", "02:00:00:00:00:01", "10.244.1.5", "fd00::5"),
		ep("b", "db", "02:00:00:00:00:02"),                               // MAC-only
		ep("c", "pods", "02:00:00:00:00:03", "10.244.1.7", "10.244.1.7"), // listed twice: one route
		ep("d", "nope", "02:00:00:00:00:04", "10.244.1.8"),               // unknown network
		ep("f", "pods", "02:00:00:00:00:01", "10.244.1.5"),               // duplicate of a
		// Chained (e.g. after ptp): its MAC is not behind the bridge, no type-2.
		chained(ep("g", "pods", "02:00:00:00:00:07", "10.244.200.10")),
	})
	want := []string{
		"l2vpn-evpn|[type:macadv][rd:10.0.0.1:1][etag:0][mac:02:00:00:00:00:01][ip:10.244.1.5]",
		"l2vpn-evpn|[type:macadv][rd:10.0.0.1:1][etag:0][mac:02:00:00:00:00:01][ip:fd00::5]",
		"l2vpn-evpn|[type:macadv][rd:10.0.0.1:1][etag:0][mac:02:00:00:00:00:03][ip:10.244.1.7]",
		"l2vpn-evpn|[type:macadv][rd:10.0.0.1:2][etag:0][mac:02:00:00:00:00:02][ip:<nil>]",
	}
	if keys := slices.Sorted(maps.Keys(got)); strings.Join(keys, "\n") != strings.Join(want, "\n") {
		t.Fatalf("keys:\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	if r := got[want[3]].route; r.Label != 200 || r.NextHop != selfVTEP || len(r.VNIs) != 1 || r.VNIs[0] != 200 {
		t.Fatalf("mac-only route %+v", r)
	}
}

// A MAC that a remote VTEP announces in the network is a move to us: our
// route carries the next sequence; other MACs and VNIs carry none.
func TestMacRoutesMobility(t *testing.T) {
	s := NewSource(Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
	s.ingest(rt2(vtepA, "02:00:00:00:00:01", "10.244.1.5", 0, 100)) // no community: sequence 0
	s.ingest(rt2(vtepC, "02:00:00:00:00:02", "", 4, 100))
	s.ingest(rt2(vtepC, "02:00:00:00:00:03", "", 9, 999)) // not our VNI
	got := macRoutes(s, []endpoint.Endpoint{
		ep("", "pods", "02:00:00:00:00:01", "10.244.1.5"),
		ep("", "pods", "02:00:00:00:00:02"),
		ep("", "pods", "02:00:00:00:00:03"),
		ep("", "db", "02:00:00:00:00:01"), // same MAC, other VNI
	})
	want := map[string]uint32{"02:00:00:00:00:01/100": 1, "02:00:00:00:00:02/100": 5, "02:00:00:00:00:03/100": 0, "02:00:00:00:00:01/200": 0}
	if len(got) != len(want) {
		t.Fatalf("%d routes, want %d", len(got), len(want))
	}
	for _, lr := range got {
		k := fmt.Sprintf("%s/%d", lr.route.MAC, lr.route.VNIs[0])
		if seq, ok := want[k]; !ok || lr.route.Seq != seq {
			t.Errorf("%s: seq %d, want %d", k, lr.route.Seq, want[k])
		}
		// The withdrawal path never carries a sequence (GoBGP checks it).
		nlri, _, _, withdraw := lr.path.Packet()
		if w, err := DecodeRx(bgp.RxPath{NLRI: nlri, Attrs: withdraw, Withdraw: true}); err != nil || w.Seq != 0 || w.Key != lr.route.Key {
			t.Errorf("%s: withdraw path %+v %v", k, w, err)
		}
	}
	// The sequences follow replacements and withdrawals.
	k := overlay.FDBKey{VNI: 100, MAC: overlay.MustParseMAC("02:00:00:00:00:02")}
	s.ingest(rt2(vtepC, "02:00:00:00:00:02", "", 7, 100)) // the same route, a newer sequence
	s.ingest(rt2(vtepA, "02:00:00:00:00:02", "", 3, 100)) // a second claim
	if seq, ok := s.remoteSeq(k); !ok || seq != 7 {
		t.Fatalf("after replace: seq %d %v, want 7 true", seq, ok)
	}
	w := rt2(vtepC, "02:00:00:00:00:02", "", 0, 100)
	w.Withdraw = true
	s.ingest(w)
	if seq, ok := s.remoteSeq(k); !ok || seq != 3 {
		t.Fatalf("after withdrawing the newest: seq %d %v, want 3 true", seq, ok)
	}
	w = rt2(vtepA, "02:00:00:00:00:02", "", 0, 100)
	w.Withdraw = true
	s.ingest(w)
	if _, ok := s.remoteSeq(k); ok || s.idx.fdb.len() != 1 {
		t.Fatalf("after withdrawing all: still claimed, or claims %v (want only 02:00:00:00:00:01; 03 is in no VNI of ours)", s.idx.fdb.first)
	}
}
