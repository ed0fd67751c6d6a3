package routed

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// testRules: a dual-stack host with blocks 10.244.1.0/24 and
// fd00:10:244:1::/64, next hops 192.0.2.1 and 2001:db8::1.
func testRules() rules {
	p := netip.MustParsePrefix
	return newRules(Config{
		Blocks:         []netip.Prefix{p("10.244.1.0/24"), p("fd00:10:244:1::/64")},
		NextHop4:       netip.MustParseAddr("192.0.2.1"),
		NextHop6:       netip.MustParseAddr("2001:db8::1"),
		Subnets:        []netip.Prefix{p("10.244.0.0/16"), p("fd00:10:244::/48")},
		ImportPrefixes: []netip.Prefix{p("0.0.0.0/0"), p("::/0"), p("198.51.100.0/24")},
	})
}

// paths parses "nexthop@peer" items ("@" alone: our own path).
func paths(items ...string) []bgp.UnicastPath {
	var out []bgp.UnicastPath
	for _, it := range items {
		nh, peer, _ := strings.Cut(it, "@")
		u := bgp.UnicastPath{Peer: peer}
		if nh != "" {
			u.NextHop = netip.MustParseAddr(nh)
		}
		out = append(out, u)
	}
	return out
}

func TestRoute(t *testing.T) {
	r := testRules()
	for _, tt := range []struct {
		prefix string
		paths  []bgp.UnicastPath
		want   verdict
		route  string // overlay.Route.String() when installed
	}{
		{"10.244.2.0/24", paths("192.0.2.2@10.0.0.2"), install, "route 10.244.2.0/24 proto vxbgp nexthop via 192.0.2.2"},
		// ECMP: next hops sorted, duplicates merged.
		{"0.0.0.0/0", paths("192.0.2.9@10.0.0.9", "192.0.2.8@10.0.0.8", "192.0.2.9@10.0.0.10"), install,
			"route 0.0.0.0/0 proto vxbgp nexthop via 192.0.2.8 nexthop via 192.0.2.9"},
		{"10.244.7.7/32", paths("192.0.2.2@10.0.0.2"), install, "route 10.244.7.7/32 proto vxbgp nexthop via 192.0.2.2"},
		{"fd00:10:244:2::/64", paths("2001:db8::2@10.0.0.2"), install, "route fd00:10:244:2::/64 proto vxbgp nexthop via 2001:db8::2"},
		{"::/0", paths("2001:db8::9@10.0.0.9"), install, "route ::/0 proto vxbgp nexthop via 2001:db8::9"},
		{"198.51.100.0/24", paths("192.0.2.9@10.0.0.9"), install, "route 198.51.100.0/24 proto vxbgp nexthop via 192.0.2.9"},

		{"10.244.2.0/24", nil, withdrawn, ""},
		{"10.244.1.0/24", paths("192.0.2.1@"), ownPath, ""},
		{"10.244.1.0/24", paths("192.0.2.5@10.0.0.5"), ownBlock, ""},   // someone else claims our block
		{"10.244.1.128/25", paths("192.0.2.5@10.0.0.5"), ownBlock, ""}, // or a part of it
		{"fd00:10:244:1::5/128", paths("2001:db8::5@10.0.0.5"), ownBlock, ""},
		{"10.244.0.0/16", paths("192.0.2.9@10.0.0.9"), isSubnet, ""}, // a ToR's aggregate
		{"fd00:10:244::/48", paths("2001:db8::9@10.0.0.9"), isSubnet, ""},
		{"10.0.0.0/8", paths("192.0.2.9@10.0.0.9"), outside, ""},
		{"10.245.0.0/24", paths("192.0.2.9@10.0.0.9"), outside, ""},
		{"198.51.100.0/25", paths("192.0.2.9@10.0.0.9"), outside, ""}, // import prefixes match exactly
		{"2001:db8::/32", paths("2001:db8::9@10.0.0.9"), outside, ""},

		// Next hops: ours (a loop), of the other family, link-local, unspecified.
		{"10.244.2.0/24", paths("192.0.2.1@10.0.0.2"), noNextHop, ""},
		{"10.244.2.0/24", paths("192.0.2.1@10.0.0.2", "192.0.2.3@10.0.0.3"), install, "route 10.244.2.0/24 proto vxbgp nexthop via 192.0.2.3"},
		{"fd00:10:244:2::/64", paths("2001:db8::1@10.0.0.2"), noNextHop, ""},
		{"10.244.2.0/24", paths("2001:db8::2@10.0.0.2"), noNextHop, ""},
		{"fd00:10:244:2::/64", paths("::ffff:192.0.2.2@10.0.0.2"), noNextHop, ""},
		{"fd00:10:244:2::/64", paths("fe80::2@10.0.0.2"), noNextHop, ""},
		{"10.244.2.0/24", paths("0.0.0.0@10.0.0.2"), noNextHop, ""},
		{"10.244.2.0/24", paths("127.0.0.2@10.0.0.2"), noNextHop, ""}, // martians
		{"10.244.2.0/24", paths("255.255.255.255@10.0.0.2"), noNextHop, ""},
		{"10.244.2.0/24", paths("0.1.2.3@10.0.0.2"), noNextHop, ""},
		{"10.244.2.0/24", paths("224.0.0.2@10.0.0.2"), noNextHop, ""},
		{"fd00:10:244:2::/64", paths("::1@10.0.0.2"), noNextHop, ""},
		{"10.244.2.0/24", paths("@10.0.0.2"), noNextHop, ""}, // none decoded
	} {
		t.Run(tt.prefix+" "+tt.want.String(), func(t *testing.T) {
			rt, v := r.route(netip.MustParsePrefix(tt.prefix), tt.paths)
			if v != tt.want {
				t.Fatalf("verdict %s, want %s", v, tt.want)
			}
			got := ""
			if v == install {
				got = rt.String()
				if !rt.Normal() {
					t.Errorf("route %s not normalised", got)
				}
			}
			if got != tt.route {
				t.Fatalf("route %q, want %q", got, tt.route)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	p := netip.MustParsePrefix
	got := testRules().build(map[netip.Prefix][]bgp.UnicastPath{
		p("10.244.1.0/24"):      paths("192.0.2.1@"),
		p("10.244.2.0/24"):      paths("192.0.2.2@10.0.0.2"),
		p("10.244.3.0/24"):      paths("192.0.2.3@10.0.0.3", "192.0.2.4@10.0.0.4"),
		p("192.168.99.0/24"):    paths("192.0.2.2@10.0.0.2"),
		p("fd00:10:244:2::/64"): paths("2001:db8::2@10.0.0.2"),
	})
	var lines []string
	for _, r := range got {
		lines = append(lines, r.String())
	}
	want := []string{
		"route 10.244.2.0/24 proto vxbgp nexthop via 192.0.2.2",
		"route 10.244.3.0/24 proto vxbgp nexthop via 192.0.2.3 nexthop via 192.0.2.4",
		"route fd00:10:244:2::/64 proto vxbgp nexthop via 2001:db8::2",
	}
	if !sameLines(lines, want) {
		t.Fatalf("build:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for k, r := range got {
		if k != r.Dst {
			t.Errorf("key %s holds route %s", k, r)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	for _, tt := range []struct {
		name string
		c    Config
		want string // "" = valid
	}{
		{"v4", Config{Blocks: []netip.Prefix{p("10.244.1.0/24")}, NextHop4: a("192.0.2.1")}, ""},
		{"dual stack", Config{Blocks: []netip.Prefix{p("10.244.1.0/24"), p("fd00::/64")}, NextHop4: a("192.0.2.1"), NextHop6: a("2001:db8::1")}, ""},
		{"no blocks", Config{}, ""},
		{"v4 block without next hop", Config{Blocks: []netip.Prefix{p("10.244.1.0/24")}}, "next hop (IPv4) invalid IP"},
		{"v6 block with a v4 next hop", Config{Blocks: []netip.Prefix{p("fd00::/64")}, NextHop6: a("192.0.2.1")}, "next hop (IPv6) 192.0.2.1"},
		{"unspecified next hop", Config{Blocks: []netip.Prefix{p("10.244.1.0/24")}, NextHop4: a("0.0.0.0")}, "next hop (IPv4) 0.0.0.0"},
		{"mapped block", Config{Blocks: []netip.Prefix{p("::ffff:10.244.1.0/120")}}, "IPv4-mapped"},
		{"invalid subnet", Config{Subnets: []netip.Prefix{{}}}, "not a prefix"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func sameLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[string]int{}
	for _, l := range a {
		set[l]++
	}
	for _, l := range b {
		set[l]--
	}
	for _, n := range set {
		if n != 0 {
			return false
		}
	}
	return true
}
