package bgp_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// The per-peer series are the speaker's neighbours at each scrape: a
// removed peer leaves no stale series, and a speaker that does not answer
// leaves them all out (peers_established 0).
func TestPeerMetricsFollowPeers(t *testing.T) {
	peers := []bgp.PeerStatus{
		{Address: netip.MustParseAddr("10.0.0.2"), ASN: 64512, State: "established",
			Families: []bgp.FamilyStatus{{Family: "l2vpn-evpn", Received: 5, Accepted: 5, Advertised: 2}}},
		{Address: netip.MustParseAddr("10.0.0.254"), ASN: 65000, State: "active"},
	}
	var fail error
	reg := prometheus.NewRegistry()
	bgp.RegisterMetrics(reg, func(context.Context) ([]bgp.PeerStatus, error) { return peers, fail },
		func() bgp.LimitStats { return bgp.LimitStats{} },
		func(a netip.Addr) string {
			if a == netip.MustParseAddr("10.0.0.254") {
				return "static"
			}
			return "discovered"
		})
	check := func(step string, want, unwanted []string) {
		t.Helper()
		got := series(t, reg)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: no %s in\n%s", step, w, strings.Join(got, "\n"))
			}
		}
		for _, u := range unwanted {
			for _, g := range got {
				if strings.HasPrefix(g, u) {
					t.Errorf("%s: stale %s", step, g)
				}
			}
		}
	}
	check("two peers", []string{
		`vxbgp_bgp_session_up{peer="10.0.0.2",peer_asn="64512",source="discovered"} 1`,
		`vxbgp_bgp_session_up{peer="10.0.0.254",peer_asn="65000",source="static"} 0`,
		`vxbgp_bgp_routes_received{family="l2vpn-evpn",peer="10.0.0.2"} 5`,
		`vxbgp_bgp_routes_advertised{family="l2vpn-evpn",peer="10.0.0.2"} 2`,
		"vxbgp_bgp_peers_established 1",
	}, nil)
	peers = peers[1:]
	check("10.0.0.2 removed", []string{`vxbgp_bgp_session_up{peer="10.0.0.254",peer_asn="65000",source="static"} 0`, "vxbgp_bgp_peers_established 0"},
		[]string{`vxbgp_bgp_session_up{peer="10.0.0.2"`, `vxbgp_bgp_routes_received{family="l2vpn-evpn",peer="10.0.0.2"}`})
	fail = errors.New("timeout")
	check("no answer", []string{"vxbgp_bgp_peers_established 0"}, []string{"vxbgp_bgp_session_up"})
}
