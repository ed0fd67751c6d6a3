package desired

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay"
)

// The state the target reaches through a Merger's Set and Updates is the
// one a new Merger makes of the final inputs at once, after random
// sequences of EVPN changes (VTEPs coming and going, which decides which
// block routes apply), routed tables and their changes, and masks; and
// EVPN and routed changes reach the target as Updates, not whole states.
func TestMergerUpdatesMatchRebuild(t *testing.T) {
	vteps := []netip.Addr{netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.3"), netip.MustParseAddr("10.250.0.4")}
	dev := overlay.Device{VNI: 100, Bridge: "vxbr100", VXLAN: "vxlan100", VTEP: netip.MustParseAddr("10.250.0.1"), Underlay: "eth0", Port: 4789, MTU: 1450,
		GatewayMAC: overlay.DefaultGatewayMAC, Gateway: netip.MustParsePrefix("10.244.0.1/16")}
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			var got overlay.State
			tg := &target{s: &got}
			m := New(config.ModeOverlay, nil, tg)
			ev := overlay.NewState() // what the EVPN source's changes add up to
			var routes map[netip.Prefix]overlay.Route
			var masked map[netip.Addr]bool
			var first overlay.Delta
			first.SetDevice(dev)
			ev.ApplyDelta(first)
			m.UpdateEVPN(first)
			for step := range 200 {
				switch rng.IntN(12) {
				case 0:
					prev := routes
					routes = map[netip.Prefix]overlay.Route{}
					for b := range 4 {
						var via []netip.Addr
						for _, v := range append(vteps, netip.MustParseAddr("10.250.0.9")) {
							if rng.IntN(2) == 0 {
								via = append(via, v)
							}
						}
						dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(b), 0}), 24)
						if b == 3 {
							dst = netip.MustParsePrefix("10.244.200.10/32")
						}
						if len(via) > 0 {
							routes[dst] = overlay.NewRoute(dst, via...)
						}
					}
					if rng.IntN(2) == 0 {
						m.SetRoutes(routes)
					} else {
						sets := tg.sets
						m.UpdateRoutes(overlay.State{Routes: prev}.DeltaTo(overlay.State{Routes: routes}))
						if tg.sets != sets {
							t.Fatalf("step %d: a routed change handed over a whole state", step)
						}
					}
				case 1:
					masked = nil
					if rng.IntN(2) == 0 {
						masked = map[netip.Addr]bool{vteps[rng.IntN(len(vteps))]: true}
					}
					m.SetMasked(masked)
				default:
					var d overlay.Delta
					for range rng.IntN(4) + 1 {
						vtep := vteps[rng.IntN(len(vteps))]
						mac := overlay.MAC{2, 0, 0, 0, 0, byte(rng.IntN(8))}
						switch rng.IntN(6) {
						case 0:
							d.SetFlood(overlay.Flood{VNI: 100, VTEP: vtep})
						case 1:
							d.DelFlood(overlay.Flood{VNI: 100, VTEP: vtep})
						case 2:
							d.DelFDB(overlay.FDBKey{VNI: 100, MAC: mac})
						case 3:
							d.SetNeigh(overlay.Neigh{VNI: 100, IP: netip.AddrFrom4([4]byte{10, 244, 9, mac[5]}), MAC: mac})
						default:
							d.SetFDB(overlay.FDB{VNI: 100, MAC: mac, VTEP: vtep})
						}
					}
					ev.ApplyDelta(d)
					sets := tg.sets
					m.UpdateEVPN(d)
					if tg.sets != sets {
						t.Fatalf("step %d: an EVPN change handed over a whole state", step)
					}
				}
				var want overlay.State
				ref := New(config.ModeOverlay, nil, &target{s: &want})
				ref.SetRoutes(routes)
				ref.SetMasked(masked)
				ref.SetEVPN(ev)
				if !got.Equal(want) {
					t.Fatalf("step %d: through updates\n%s\nrebuilt\n%s", step, got, want)
				}
			}
		})
	}
}

// discard is a Target that drops what it gets.
type discard struct{}

func (discard) Set(overlay.State)    {}
func (discard) Update(overlay.Delta) {}

// BenchmarkUpdateEVPN100k is a peer's table of 100,000 MACs taken in and
// withdrawn again, in Deltas of 10,000, no VTEP masked.
func BenchmarkUpdateEVPN100k(b *testing.B) {
	m := New(config.ModeOverlay, nil, discard{})
	m.SetEVPN(overlay.NewState())
	var in, out []overlay.Delta
	for i := range 100_000 {
		if i%10_000 == 0 {
			in, out = append(in, overlay.Delta{}), append(out, overlay.Delta{})
		}
		f := overlay.FDB{VNI: 100, MAC: overlay.MAC{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, VTEP: netip.AddrFrom4([4]byte{10, 250, 0, byte(2 + i%3)})}
		in[len(in)-1].SetFDB(f)
		out[len(out)-1].DelFDB(f.Key())
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range in {
			m.UpdateEVPN(d)
		}
		for _, d := range out {
			m.UpdateEVPN(d)
		}
	}
}
