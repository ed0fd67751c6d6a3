package evpn

// Golden bytes captured between FRR 8.4 and gobgpd (notes/frr, copied to
// testdata): our encoding must match FRR's, and FRR's must decode.

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	vbgp "github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/overlay"
)

// Our paths are byte-for-byte what FRR sends (frr-gobgp-evpn-updates.txt).
func TestTranslateMatchesFRRBytes(t *testing.T) {
	frrRID := netip.MustParseAddr("10.250.0.1")
	t3, err := Type3(65000, frrRID, 2, 100, frrRID)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := Type2(65000, frrRID, 2, 100, frrRID, overlay.MustParseMAC("02:00:00:00:01:01"), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		p    *api.Path
		nlri string // NLRI as in FRR's MP_REACH
		attr map[string]string
	}{
		{
			name: "type-3", p: t3,
			nlri: "031100010afa0001000200000000200afa0001",
			attr: map[string]string{
				"PMSI": "c0160900060000640afa0001",
				"ext":  "0002fde800000064 030c000000000008",
				"mp":   "001946040afa000100031100010afa0001000200000000200afa0001",
			},
		},
		{
			name: "type-2 mac-only", p: t2,
			nlri: "022100010afa0001000200000000000000000000000000003002000000010100000064",
			attr: map[string]string{"ext": "0002fde800000064 030c000000000008"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := apiutil.GetNativeNlri(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			b, err := n.Serialize()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tt.nlri {
				t.Errorf("nlri\n got %s\nwant %s", got, tt.nlri)
			}
			attrs, err := apiutil.GetNativePathAttributes(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range attrs {
				switch a := a.(type) {
				case *bgp.PathAttributeExtendedCommunities:
					var comms []string
					for _, c := range a.Value {
						cb, _ := c.Serialize()
						comms = append(comms, hex.EncodeToString(cb))
					}
					slices.Sort(comms) // FRR's order differs; the set must match
					if got := strings.Join(comms, " "); got != tt.attr["ext"] {
						t.Errorf("ext communities %s, want %s", got, tt.attr["ext"])
					}
				case *bgp.PathAttributePmsiTunnel:
					ab, _ := a.Serialize()
					if got := hex.EncodeToString(ab); got != tt.attr["PMSI"] {
						t.Errorf("pmsi %s, want %s", got, tt.attr["PMSI"])
					}
				case *bgp.PathAttributeMpReachNLRI:
					if want, ok := tt.attr["mp"]; ok {
						ab, _ := a.Serialize()
						// skip flags, type and length: FRR uses extended length
						if got := hex.EncodeToString(ab[3:]); got != want {
							t.Errorf("mp_reach %s, want %s", got, want)
						}
					}
				case *bgp.PathAttributeOrigin:
					if a.Value != bgp.BGP_ORIGIN_ATTR_TYPE_IGP {
						t.Errorf("origin %d", a.Value)
					}
				}
			}
		})
	}
}

// frrUpdates reads the captured UPDATEs (direction and bytes).
func frrUpdates(t testing.TB) (from []string, msgs [][]byte) {
	t.Helper()
	f, err := os.Open("testdata/frr-gobgp-evpn-updates.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur string
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "UPDATE "); ok {
			cur, _, _ = strings.Cut(rest, " ")
			cur, _, _ = strings.Cut(cur, ":")
		}
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "hex: "); ok {
			b, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			from = append(from, cur)
			msgs = append(msgs, b)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return from, msgs
}

// pathsOf splits an UPDATE into the per-NLRI paths GoBGP's watcher
// delivers: in API form, and as the native watch hands them over.
func pathsOf(t testing.TB, msg []byte, from string) ([]*api.Path, []vbgp.RxPath) {
	t.Helper()
	m, err := bgp.ParseBGPMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	u := m.Body.(*bgp.BGPUpdate)
	var (
		out []*api.Path
		rxs []vbgp.RxPath
	)
	add := func(n bgp.AddrPrefixInterface) {
		p, err := apiutil.NewPath(n, false, u.PathAttributes, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p.NeighborIp = from
		out = append(out, p)
		rxs = append(rxs, vbgp.RxPath{NLRI: n, Attrs: u.PathAttributes, Peer: from})
	}
	for _, n := range u.NLRI {
		add(n)
	}
	for _, a := range u.PathAttributes {
		if mp, ok := a.(*bgp.PathAttributeMpReachNLRI); ok {
			for _, n := range mp.Value {
				add(n)
			}
		}
	}
	return out, rxs
}

func TestDecodeFRRUpdates(t *testing.T) {
	from, msgs := frrUpdates(t)
	if len(msgs) != 6 {
		t.Fatalf("%d updates in testdata, want 6", len(msgs))
	}
	frr := netip.MustParseAddr("10.250.0.1")
	gobgpd := netip.MustParseAddr("10.250.0.2")
	key2 := func(rd, mac string) string {
		return "l2vpn-evpn|[type:macadv][rd:" + rd + "][etag:0][mac:" + mac + "][ip:<nil>]"
	}
	mac := overlay.MustParseMAC
	type result struct {
		route Route
		err   error
	}
	want := [][]result{
		{{err: ErrUnsupported}}, // IPv4 unicast 10.251.0.128/26 (routed mode)
		{
			{route: Route{Kind: RouteType2, RD: "10.250.0.1:2", MAC: mac("02:00:00:00:01:01"), VNIs: []uint32{100}, Label: 100, NextHop: frr, Peer: "10.250.0.1", Key: key2("10.250.0.1:2", "02:00:00:00:01:01")}},
			{route: Route{Kind: RouteType2, RD: "10.250.0.1:2", MAC: mac("02:00:00:00:01:e3"), VNIs: []uint32{100}, Label: 100, NextHop: frr, Peer: "10.250.0.1", Key: key2("10.250.0.1:2", "02:00:00:00:01:e3")}},
			{route: Route{Kind: RouteType2, RD: "10.250.0.1:2", MAC: mac("02:00:00:00:01:e2"), VNIs: []uint32{100}, Label: 100, NextHop: frr, Peer: "10.250.0.1", Key: key2("10.250.0.1:2", "02:00:00:00:01:e2")}},
		},
		// bridge fdb ... static sticky: MAC mobility community with the sticky flag
		{{route: Route{Kind: RouteType2, RD: "10.250.0.1:2", MAC: mac("02:00:00:00:01:e4"), VNIs: []uint32{100}, Label: 100, NextHop: frr, Sticky: true, Peer: "10.250.0.1", Key: key2("10.250.0.1:2", "02:00:00:00:01:e4")}}},
		{{route: Route{Kind: RouteType3, RD: "10.250.0.1:2", VNIs: []uint32{100}, Label: 100, NextHop: frr, Originator: frr, Peer: "10.250.0.1",
			Key: "l2vpn-evpn|[type:multicast][rd:10.250.0.1:2][etag:0][ip:10.250.0.1]"}}},
		// eBGP: FRR sends gobgpd's route (AS 65002, RT 65002:100) back to
		// it; matched on the VNI alone
		{{route: Route{Kind: RouteType2, RD: "10.250.0.2:100", MAC: mac("02:00:00:00:02:01"), VNIs: []uint32{100}, Label: 100, NextHop: gobgpd, Peer: "10.250.0.1", Key: key2("10.250.0.2:100", "02:00:00:00:02:01")}}},
		// gobgpd's own announcement of it, towards FRR
		{{route: Route{Kind: RouteType2, RD: "10.250.0.2:100", MAC: mac("02:00:00:00:02:01"), VNIs: []uint32{100}, Label: 100, NextHop: gobgpd, Peer: "10.250.0.2", Key: key2("10.250.0.2:100", "02:00:00:00:02:01")}}},
	}
	keys := map[string]bool{}
	for i, msg := range msgs {
		paths, rxs := pathsOf(t, msg, from[i])
		if len(paths) != len(want[i]) {
			t.Fatalf("update %d: %d paths, want %d", i, len(paths), len(want[i]))
		}
		for j, p := range paths {
			got, err := Decode(p)
			// The native decoder reads FRR's bytes as GoBGP parsed them
			// to the same result.
			if rgot, rerr := DecodeRx(rxs[j]); !reflect.DeepEqual(rgot, got) || (rerr == nil) != (err == nil) ||
				(err != nil && errors.Is(err, ErrUnsupported) != errors.Is(rerr, ErrUnsupported)) {
				t.Errorf("update %d path %d: DecodeRx %+v, %v; Decode %+v, %v", i, j, rgot, rerr, got, err)
			}
			w := want[i][j]
			if w.err != nil {
				if !errors.Is(err, w.err) {
					t.Errorf("update %d path %d: err %v, want %v", i, j, err, w.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("update %d path %d: %v", i, j, err)
				continue
			}
			if !reflect.DeepEqual(got, w.route) {
				t.Errorf("update %d path %d:\n got %+v\nwant %+v", i, j, got, w.route)
			}
			keys[strings.TrimPrefix(got.Key, "l2vpn-evpn|")] = true
		}
	}
	// The keys are the destinations gobgpd showed for FRR's routes.
	b, err := os.ReadFile("testdata/gobgp-rib-evpn-from-frr.json")
	if err != nil {
		t.Fatal(err)
	}
	var rib map[string]json.RawMessage
	if err := json.Unmarshal(b, &rib); err != nil {
		t.Fatal(err)
	}
	for k := range rib {
		if !keys[k] {
			t.Errorf("gobgpd destination %s not among the decoded keys %v", k, keys)
		}
	}
}
