package bench

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// countNLRI parses every message of writes and counts the announced and
// withdrawn routes.
func countNLRI(t *testing.T, writes [][]byte) (ann, wd int) {
	t.Helper()
	for _, w := range writes {
		for len(w) > 0 {
			n := int(binary.BigEndian.Uint16(w[16:18]))
			m, err := bgp.ParseBGPMessage(w[:n])
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			w = w[n:]
			u := m.Body.(*bgp.BGPUpdate)
			ann += len(u.NLRI)
			wd += len(u.WithdrawnRoutes)
			for _, a := range u.PathAttributes {
				switch a := a.(type) {
				case *bgp.PathAttributeMpReachNLRI:
					ann += len(a.Value)
				case *bgp.PathAttributeMpUnreachNLRI:
					wd += len(a.Value)
				}
			}
		}
	}
	return ann, wd
}

func TestTables(t *testing.T) {
	id := netip.MustParseAddr("10.250.0.150")
	et, err := evpnTable(1234, id, 64512, 100, true)
	if err != nil {
		t.Fatal(err)
	}
	if a, w := countNLRI(t, et.announce); a != 1235 || w != 0 {
		t.Errorf("evpn announce: %d routes, %d withdrawn; want 1235, 0", a, w)
	}
	if a, w := countNLRI(t, et.withdraw); a != 0 || w != 1235 {
		t.Errorf("evpn withdraw: %d routes, %d withdrawn; want 0, 1235", a, w)
	}
	pfxs, err := cut("10.244.64.0/18", 28, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ut, err := unicastTable(pfxs, id, 64999, false)
	if err != nil {
		t.Fatal(err)
	}
	if a, w := countNLRI(t, ut.announce); a != 1000 || w != 0 {
		t.Errorf("unicast announce: %d routes, %d withdrawn; want 1000, 0", a, w)
	}
	if a, w := countNLRI(t, ut.withdraw); a != 0 || w != 1000 {
		t.Errorf("unicast withdraw: %d routes, %d withdrawn; want 0, 1000", a, w)
	}
}
