package bgp_test

import (
	"context"
	"net/netip"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// A path handed to GoBGP in packet form (Advertise) is in its table as the
// same path in API form (AddPath) is: same NLRI, attributes in the same
// order, same next hop, so the UPDATEs are the same bytes.
func TestNativePathMatchesAddPath(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, "127.0.0.83", "10.0.0.83")
	type3 := imet(t, a.RouterID, 7, 100, "192.0.2.83")
	v4, err := bgp.NewUnicastPath(netip.MustParsePrefix("10.244.3.0/24"), netip.MustParseAddr("192.0.2.83"))
	if err != nil {
		t.Fatal(err)
	}
	v6, err := bgp.NewUnicastPath(netip.MustParsePrefix("fd00:10:244:3::/64"), netip.MustParseAddr("2001:db8::83"))
	if err != nil {
		t.Fatal(err)
	}
	native := func(p *api.Path) bgp.Path {
		t.Helper()
		if p == v4 {
			q, err := bgp.NewUnicast(netip.MustParsePrefix("10.244.3.0/24"), netip.MustParseAddr("192.0.2.83"))
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
		if p == v6 {
			q, err := bgp.NewUnicast(netip.MustParsePrefix("fd00:10:244:3::/64"), netip.MustParseAddr("2001:db8::83"))
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
		q, err := bgp.NewPath(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	list := func(family string) *api.Path {
		t.Helper()
		ps, err := a.ListPaths(ctx, family)
		if err != nil || len(ps) != 1 {
			t.Fatalf("%s paths %v, %v: want one", family, ps, err)
		}
		p := ps[0]
		// The local ID is the destination's (ADD-PATH), which remembers
		// the ID of the path withdrawn before.
		p.Age, p.LocalIdentifier = nil, 0
		return p
	}
	for _, tt := range []struct {
		family string
		p      *api.Path
	}{{bgp.FamilyEVPN, type3}, {bgp.FamilyIPv4, v4}, {bgp.FamilyIPv6, v6}} {
		if err := a.AddPath(ctx, tt.p); err != nil {
			t.Fatal(err)
		}
		want := list(tt.family)
		if err := a.DeletePath(ctx, tt.p); err != nil {
			t.Fatal(err)
		}
		if err := a.Advertise(ctx, "o", []bgp.Path{native(tt.p)}); err != nil {
			t.Fatal(err)
		}
		if got := list(tt.family); !proto.Equal(got, want) {
			t.Errorf("%s: native path\n%v\nwant\n%v", tt.family, got, want)
		}
		if err := a.Advertise(ctx, "o", nil); err != nil {
			t.Fatal(err)
		}
		if ps, err := a.ListPaths(ctx, tt.family); err != nil || len(ps) != 0 {
			t.Fatalf("%s: after withdrawal %v, %v", tt.family, ps, err)
		}
	}
}
