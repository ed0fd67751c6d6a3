package overlay_test

import (
	"net/netip"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

func natFor(srcs ...string) overlay.NAT {
	var rules []overlay.Masquerade
	for _, s := range srcs {
		p := netip.MustParsePrefix(s)
		other := netip.MustParsePrefix("10.96.0.0/12") // another pool of the family
		if p.Addr().Is6() {
			other = netip.MustParsePrefix("fd00:96::/108")
		}
		rules = append(rules, overlay.Masquerade{Network: "pods", Src: p, Except: []netip.Prefix{other, p}})
	}
	return overlay.NewNAT(rules...)
}

// TestDiffNAT: the NAT table is set first (a new pool must be exempt
// before anything routes towards it) and deleted last; it is one op
// whatever changed in it, and none when nothing did.
func TestDiffNAT(t *testing.T) {
	empty := overlay.NewState()
	with := overlay.NewState()
	with.AddDevice(dev(100))
	with.AddRoute(route("10.244.2.0/24", "10.0.0.2"))
	with.NAT = natFor("10.244.0.0/16")

	ops := overlay.Diff(empty, with)
	if len(ops) != 3 || ops[0].NAT == nil || ops[0].Kind != overlay.OpSet {
		t.Fatalf("empty -> with nat: %v, want the nat set first", ops)
	}
	ops = overlay.Diff(with, empty)
	if last := ops[len(ops)-1]; last.NAT == nil || last.Kind != overlay.OpDel {
		t.Fatalf("with nat -> empty: %v, want the nat deleted last", ops)
	}
	if ops := overlay.Diff(with, with.Clone()); len(ops) != 0 {
		t.Fatalf("no change: %v", ops)
	}
	changed := with.Clone()
	changed.NAT = natFor("10.244.0.0/16", "fd00::/48")
	ops = overlay.Diff(with, changed)
	if len(ops) != 1 || ops[0].NAT == nil || ops[0].Kind != overlay.OpSet || !ops[0].NAT.Equal(changed.NAT) {
		t.Fatalf("changed nat: %v, want one set", ops)
	}
	// The op's NAT shares nothing with the states.
	ops[0].NAT.Rules[0].Except[0] = netip.MustParsePrefix("1.0.0.0/8")
	if !changed.NAT.Equal(natFor("10.244.0.0/16", "fd00::/48")) {
		t.Fatal("the op shares memory with the desired state")
	}
	cur := with.Clone()
	cur.Apply(overlay.Op{Kind: overlay.OpSet, NAT: &changed.NAT})
	if !cur.Equal(changed) {
		t.Fatalf("Apply set nat: %v", cur)
	}
	cur.Apply(overlay.Op{Kind: overlay.OpDel, NAT: &changed.NAT})
	if !cur.NAT.IsZero() {
		t.Fatalf("Apply del nat: %v", cur.NAT)
	}
}

// TestNATString: the state's text shows the rules as nft lists them.
func TestNATString(t *testing.T) {
	s := overlay.NewState()
	s.NAT = natFor("fd00:10:244::/48", "10.244.0.0/16")
	want := `nat ip saddr 10.244.0.0/16 ip daddr != 10.96.0.0/12 ip daddr != 10.244.0.0/16 masquerade fully-random comment "pods"` + "\n" +
		`nat ip6 saddr fd00:10:244::/48 ip6 daddr != fd00:10:244::/48 ip6 daddr != fd00:96::/108 masquerade fully-random comment "pods"`
	if got := s.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if (overlay.Masquerade{}).String() != "nat <a rule vxbgp did not write>" {
		t.Fatal("foreign rule text")
	}
}
