package evpn

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// The published changes add up to what buildState makes of the same routes
// from scratch, after any sequence of announcements, replacements (new
// VTEP, sequence, IP), withdrawals and refreshes, with several VTEPs
// claiming one MAC and one IP (MAC mobility, ties), routes in VNIs we do
// not have and IPs outside the subnet; and a change publishes only the
// keys it touched.
func TestIndexMatchesBuildState(t *testing.T) {
	vteps := []netip.Addr{vtepA, vtepC, netip.MustParseAddr("192.0.2.20"), selfVTEP}
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			s := NewSource(Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
			got := overlay.NewState()
			live := map[string]Route{}
			for step := range 3000 {
				var r Route
				switch k := rng.IntN(10); {
				case k == 0 && len(live) > 0: // withdraw a live route
					for _, lr := range live {
						r = lr
						break
					}
					r.Withdraw = true
				case k == 1 && len(live) > 0: // refresh a live route unchanged
					for _, lr := range live {
						r = lr
						break
					}
				case k == 2:
					r = rt3(vteps[rng.IntN(len(vteps))], []uint32{100, 200, 999}[rng.IntN(3)])
				default:
					mac := fmt.Sprintf("02:00:00:00:00:%02x", rng.IntN(24))
					ip := ""
					switch rng.IntN(4) {
					case 0:
						ip = fmt.Sprintf("10.244.0.%d", rng.IntN(16)) // shared IPs: neighbour ties
					case 1:
						ip = fmt.Sprintf("10.99.0.%d", rng.IntN(4)) // outside every subnet
					}
					vnis := [][]uint32{{100}, {200}, {100, 200}, {999}}[rng.IntN(4)]
					// The key carries the VTEP (its RD) and the MAC but not
					// the sequence: a later route with the same key
					// replaces the route, as GoBGP's best path does.
					r = rt2(vteps[rng.IntN(len(vteps))], mac, ip, uint32(rng.IntN(3)), vnis...)
				}
				s.ingest(r)
				if r.Withdraw {
					delete(live, r.Key)
				} else {
					live[r.Key] = r
				}
				if rng.IntN(20) == 0 || step == 2999 {
					d := s.idx.take()
					got.ApplyDelta(d)
					want := buildState(s.cfg.Networks, s.rx)
					want.Devices = got.Devices
					if !got.Equal(want) {
						t.Fatalf("step %d: incremental state\n%s\nfrom scratch\n%s", step, remote(got), remote(want))
					}
				}
			}
		})
	}
}

// One route among 10,000 publishes its own keys only.
func TestIndexPublishesOnlyChanges(t *testing.T) {
	s := NewSource(Config{ASN: 64512, RouterID: rid1, VTEP: selfVTEP, Networks: testNetworks()}, nil, nil)
	for i := range 10000 {
		s.ingest(rt2(vtepA, fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), fmt.Sprintf("10.244.%d.%d", i>>8, i&0xff), 0, 100))
	}
	if d := s.idx.take(); len(d.FDB) != 10000 || len(d.Neigh) != 10000 {
		t.Fatalf("first take: %d fdb, %d neigh changes", len(d.FDB), len(d.Neigh))
	}
	s.ingest(rt2(vtepC, "02:00:00:00:00:07", "10.244.0.7", 1, 100)) // the MAC moves
	d := s.idx.take()
	if len(d.FDB) != 1 || len(d.Neigh) != 1 || d.FDB[0].Val.VTEP != vtepC || d.FDB[0].Del {
		t.Fatalf("after a move: %+v", d)
	}
	s.ingest(rt2(vtepA, "02:00:00:00:00:08", "10.244.0.8", 0, 100)) // a refresh
	if d := s.idx.take(); !d.Empty() {
		t.Fatalf("a refresh published %+v", d)
	}
}
