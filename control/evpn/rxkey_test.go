package evpn

import (
	"reflect"
	"testing"
	"unique"
)

// TestRxKey: a received route is stored in its compact form and listed
// back unchanged, whatever its key looks like; a key-only route (the
// withdrawal of a malformed one) finds the route its NLRI announced.
func TestRxKey(t *testing.T) {
	zeroIP := rt2(vtepA, "02:00:00:00:00:09", "", 0, 100)
	zeroIP.Key = "l2vpn-evpn|[type:macadv][rd:192.0.2.10:1][etag:0][mac:02:00:00:00:00:09][ip:0.0.0.0]" // IP 0.0.0.0: no neighbour
	etag := rt2(vtepA, "02:00:00:00:00:0a", "10.244.1.10", 0, 100)
	etag.Key = "l2vpn-evpn|[type:macadv][rd:192.0.2.10:1][etag:7][mac:02:00:00:00:00:0a][ip:10.244.1.10]"
	v6 := rt2(vtepA, "02:00:00:00:00:0b", "fd00::b", 3, 100, 200)
	v6.Sticky = true
	for _, tt := range []struct {
		name string
		r    Route
		odd  bool
	}{
		{"type-2 mac only", rt2(vtepA, "02:00:00:00:00:01", "", 0, 100), false},
		{"type-2 with ip", rt2(vtepA, "02:00:00:00:00:02", "10.244.1.2", 5, 100), false},
		{"type-2 ipv6, two vnis, sticky", v6, false},
		{"type-3", rt3(vtepC, 100), false},
		{"type-2 ip 0.0.0.0", zeroIP, false},
		{"ethernet tag 7", etag, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := keyOf(tt.r)
			if odd := k.odd != (unique.Handle[string]{}); odd != tt.odd {
				t.Errorf("key %+v: odd %v, want %v", k, odd, tt.odd)
			}
			if got := k.text(); got != tt.r.Key {
				t.Errorf("text %q, want %q", got, tt.r.Key)
			}
			e, _, _ := contributions(tt.r, k, byVNI(testNetworks()), selfVTEP)
			if got := e.route(k); !reflect.DeepEqual(got, tt.r) {
				t.Errorf("listed\n got %+v\nwant %+v", got, tt.r)
			}
			keyOnly := Route{Kind: tt.r.Kind, Key: tt.r.Key, Peer: tt.r.Peer, Withdraw: true}
			if keyOf(keyOnly) != k {
				t.Errorf("the key-only withdrawal has key %+v, want %+v", keyOf(keyOnly), k)
			}
		})
	}
	if keyOf(zeroIP) == keyOf(rt2(vtepA, "02:00:00:00:00:09", "", 0, 100)) {
		t.Error("ip 0.0.0.0 and no ip share a key")
	}
	if _, ip, _ := (&entry{}).where(keyOf(zeroIP)); ip.IsValid() {
		t.Errorf("ip 0.0.0.0 gives neighbour IP %s", ip)
	}
}
