package evpn

import (
	"net/netip"
	"strings"
	"testing"
)

// TestBuildStateDualStack: on a dual-stack network a received IPv6 type-2
// inside subnet6 becomes an IPv6 neighbour beside the IPv4 one; IPv6
// outside subnet6, or on an IPv4-only network, installs only the MAC.
func TestBuildStateDualStack(t *testing.T) {
	nets := testNetworks()
	nets[0].Subnets = append(nets[0].Subnets, netip.MustParsePrefix("fd00:10:244::/48"))
	for _, tt := range []struct {
		name    string
		routes  []Route
		want    []string
		outside int
	}{
		{
			name: "both families inside",
			routes: []Route{
				rt2(vtepA, "02:00:00:00:00:01", "10.244.1.5", 0, 100),
				rt2(vtepA, "02:00:00:00:00:01", "fd00:10:244:1::5", 0, 100),
			},
			want: []string{
				"fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn",
				"neigh 10.244.1.5 lladdr 02:00:00:00:00:01 dev vxbr100 nud noarp extern_learn",
				"neigh fd00:10:244:1::5 lladdr 02:00:00:00:00:01 dev vxbr100 nud noarp extern_learn",
			},
		},
		{
			name:    "IPv6 outside subnet6",
			routes:  []Route{rt2(vtepA, "02:00:00:00:00:01", "fd00:99::5", 0, 100)},
			want:    []string{"fdb 02:00:00:00:00:01 dev vxlan100 dst 192.0.2.10 self master extern_learn"},
			outside: 1,
		},
		{
			name:    "IPv6 on an IPv4-only network",
			routes:  []Route{rt2(vtepA, "02:00:00:00:00:02", "fd00:10:244:1::5", 0, 200)},
			want:    []string{"fdb 02:00:00:00:00:02 dev vxlan200 dst 192.0.2.10 self master extern_learn"},
			outside: 1,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			entries := map[rxKey]*entry{}
			outside := 0
			for _, r := range tt.routes {
				k := keyOf(r)
				e, j, out := contributions(r, k, byVNI(nets), selfVTEP)
				if j != applies {
					t.Fatalf("route %s judged %d", r.Key, j)
				}
				outside += len(out)
				entries[k] = e
			}
			if outside != tt.outside {
				t.Errorf("%d IPs outside, want %d", outside, tt.outside)
			}
			if got, want := remote(buildState(nets, entries)), strings.Join(tt.want, "\n"); got != want {
				t.Fatalf("\n%s\nwant\n%s", got, want)
			}
		})
	}
}
