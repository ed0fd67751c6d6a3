package evpn

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	packet "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// The type-2 paths buildType2 makes in packet form are, byte for byte,
// what GoBGP makes of Type2 (and WithMobility) in API form, and their
// Route is what Decode reads from that: the wire and `vxbgpctl routes`
// cannot tell which way a path was built.
func TestNativeType2MatchesAPI(t *testing.T) {
	for _, tt := range []struct {
		name      string
		asn       uint32
		vtep, ip  string
		vni       uint32
		seq       uint32
		moved     bool
		wantError bool
	}{
		{name: "mac+ip", asn: 64512, vtep: "192.0.2.1", ip: "10.244.1.5", vni: 100},
		{name: "mac-only", asn: 64512, vtep: "192.0.2.1", vni: 100},
		{name: "ipv6, 4-byte asn, 24-bit vni", asn: 4200000001, vtep: "2001:db8::1", ip: "fd00:10:244::5", vni: 16777215},
		{name: "v4-mapped ip", asn: 64512, vtep: "192.0.2.1", ip: "::ffff:10.244.1.5", vni: 100},
		{name: "unspecified ip", asn: 64512, vtep: "192.0.2.1", ip: "0.0.0.0", vni: 100},
		{name: "moved", asn: 64512, vtep: "192.0.2.1", ip: "10.244.1.5", vni: 100, seq: 4, moved: true},
		{name: "moved mac-only", asn: 65000, vtep: "192.0.2.1", vni: 200, moved: true},
		{name: "bad vtep", asn: 64512, vtep: "0.0.0.0", vni: 100, wantError: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vtep := netip.MustParseAddr(tt.vtep)
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			n := Network{Name: "n", VNI: tt.vni, RDIndex: 3}
			s := NewSource(Config{ASN: tt.asn, RouterID: rid1, VTEP: vtep, Networks: []Network{n}}, nil, nil)
			lr, err := s.buildType2(&n, mac1, ip, tt.seq, tt.moved)
			base, apiErr := Type2(tt.asn, rid1, n.RDIndex, n.VNI, vtep, mac1, ip)
			if tt.wantError {
				if err == nil || apiErr == nil || err.Error() != apiErr.Error() {
					t.Fatalf("errors %v and %v, want the same", err, apiErr)
				}
				return
			}
			if err != nil || apiErr != nil {
				t.Fatal(err, apiErr)
			}
			add := base
			if tt.moved {
				if add, err = WithMobility(base, tt.seq+1, false); err != nil {
					t.Fatal(err)
				}
			}
			want, err := bgp.NewPath(add, base)
			if err != nil {
				t.Fatal(err)
			}
			if lr.path.Key() != want.Key() || !lr.path.Equal(want) || lr.path.String() != want.String() {
				t.Errorf("path %s (key %q), want %s (key %q)", lr.path, lr.path.Key(), want, want.Key())
			}
			gotN, gotNH, gotAdd, gotDel := lr.path.Packet()
			wantN, wantNH, wantAdd, wantDel := want.Packet()
			if a, b := serial(t, gotN), serial(t, wantN); !bytes.Equal(a, b) {
				t.Errorf("nlri % x, want % x", a, b)
			}
			if gotNH != wantNH {
				t.Errorf("next hop %s, want %s", gotNH, wantNH)
			}
			if a, b := attrsBytes(t, gotAdd), attrsBytes(t, wantAdd); !reflect.DeepEqual(a, b) {
				t.Errorf("attributes\n got % x\nwant % x", a, b)
			}
			if a, b := attrsBytes(t, gotDel), attrsBytes(t, wantDel); !reflect.DeepEqual(a, b) {
				t.Errorf("withdrawal attributes\n got % x\nwant % x", a, b)
			}
			add.NeighborIp = "<nil>" // as our own watcher sees it
			r, err := Decode(add)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(lr.route, r) {
				t.Errorf("route\n got %+v\nwant %+v", lr.route, r)
			}
			// A second build shares the network's attributes and is the
			// same path.
			again, err := s.buildType2(&n, mac1, ip, tt.seq, tt.moved)
			if err != nil || !again.path.Equal(lr.path) || !reflect.DeepEqual(again.route, lr.route) {
				t.Errorf("second build differs: %v", err)
			}
		})
	}
}

func serial(t *testing.T, n packet.AddrPrefixInterface) []byte {
	t.Helper()
	b, err := n.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func attrsBytes(t *testing.T, attrs []packet.PathAttributeInterface) [][]byte {
	t.Helper()
	var out [][]byte
	for _, a := range attrs {
		b, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}
