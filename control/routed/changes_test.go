package routed

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/overlay"
)

// The published changes add up to what rules.build makes of the received
// path sets from scratch, after random announcements, ECMP sets, our own
// paths, withdrawals and refreshes; a refresh publishes nothing.
func TestChangesMatchBuild(t *testing.T) {
	p := netip.MustParsePrefix
	prefixes := []netip.Prefix{p("10.244.2.0/24"), p("10.244.3.0/24"), p("10.244.1.0/24"), p("10.244.0.0/16"),
		p("10.244.200.10/32"), p("198.51.100.0/24"), p("fd00:10:244:2::/64")}
	hops := []string{"192.0.2.2", "192.0.2.3", "2001:db8::2", "127.0.0.1"}
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 5))
			s := NewSource(hostConfig(1), nil, nil)
			got := overlay.State{}
			for step := range 500 {
				pfx := prefixes[rng.IntN(len(prefixes))]
				var set []bgp.UnicastPath
				for range rng.IntN(3) {
					peer := fmt.Sprintf("10.0.0.%d", rng.IntN(3))
					if rng.IntN(8) == 0 {
						peer = "" // our own
					}
					set = append(set, bgp.UnicastPath{NextHop: netip.MustParseAddr(hops[rng.IntN(len(hops))]), Peer: peer})
				}
				s.onRoute(pfx, set)
				if rng.IntN(10) == 0 || step == 499 {
					got.ApplyDelta(s.changes())
					s.mu.Lock()
					want := s.rules.build(s.rx)
					s.mu.Unlock()
					if !(overlay.State{Routes: want}).Equal(overlay.State{Routes: got.Routes}) {
						t.Fatalf("step %d: through changes %v, from scratch %v", step, got.Routes, want)
					}
					s.onRoute(pfx, set) // a refresh
					if d := s.changes(); !d.Empty() {
						t.Fatalf("step %d: a refresh published %v", step, d)
					}
				}
			}
		})
	}
}
