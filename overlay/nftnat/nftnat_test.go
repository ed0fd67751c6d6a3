package nftnat_test

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/nftnat"
)

var pfx = netip.MustParsePrefix

// dualStack is two networks, one dual-stack, one IPv4 only that is not
// NATed: its subnet is still exempt.
func dualStack() overlay.NAT {
	return overlay.NewNAT(
		overlay.Masquerade{Network: "pods", Src: pfx("10.244.0.0/16"), Except: []netip.Prefix{pfx("10.244.0.0/16"), pfx("10.96.0.0/12")}},
		overlay.Masquerade{Network: "pods", Src: pfx("fd00:10:244::/48"), Except: []netip.Prefix{pfx("fd00:10:244::/48")}},
		overlay.Masquerade{Network: "edge", Src: pfx("192.168.7.0/25"), Except: []netip.Prefix{pfx("192.168.7.0/25"), pfx("10.244.0.0/16"), pfx("10.96.0.0/12"), pfx("10.1.2.3/32")}},
	)
}

// open returns a Conn in a fresh namespace, and the namespace's name.
func open(t *testing.T) (*nftnat.Conn, netns.NsHandle, string) {
	t.Helper()
	ns, name := nstest.New(t, "vxnft")
	var c *nftnat.Conn
	if err := nstest.Do(ns, func() (err error) { c, err = nftnat.Open(); return err }); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ns, name
}

func observe(t *testing.T, c *nftnat.Conn) overlay.NAT {
	t.Helper()
	n, err := c.Observe()
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return n
}

func nftList(t *testing.T, ns string) string {
	t.Helper()
	nstest.RequireTool(t, "nft")
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	return string(out)
}

func TestSetObserveDelete(t *testing.T) {
	c, _, ns := open(t)
	if n := observe(t, c); !n.IsZero() {
		t.Fatalf("fresh namespace: observed %v, want no table", n)
	}
	want := dualStack()
	for i := range 2 { // the second Set is a rewrite of an identical table
		if err := c.Set(want); err != nil {
			t.Fatalf("set #%d: %v", i+1, err)
		}
		if got := observe(t, c); !got.Equal(want) {
			t.Fatalf("set #%d: observed\n%v\nwant\n%v", i+1, got, want)
		}
	}
	// What nft, the operator's tool, shows.
	list := nftList(t, ns)
	t.Logf("nft list ruleset:\n%s", list)
	for _, line := range []string{
		"table inet vxbgp {",
		"chain postrouting {",
		"type nat hook postrouting priority srcnat; policy accept;",
		`ip saddr 10.244.0.0/16 ip daddr != 10.96.0.0/12 ip daddr != 10.244.0.0/16 counter packets 0 bytes 0 masquerade fully-random comment "pods"`,
		`ip6 saddr fd00:10:244::/48 ip6 daddr != fd00:10:244::/48 counter packets 0 bytes 0 masquerade fully-random comment "pods"`,
		`ip saddr 192.168.7.0/25 ip daddr != 10.1.2.3 ip daddr != 10.96.0.0/12 ip daddr != 10.244.0.0/16 ip daddr != 192.168.7.0/25 counter packets 0 bytes 0 masquerade fully-random comment "edge"`,
	} {
		if !strings.Contains(list, line) {
			t.Errorf("nft list lacks %q", line)
		}
	}
	// A change replaces the rules.
	smaller := overlay.NewNAT(want.Rules[0])
	if err := c.Set(smaller); err != nil {
		t.Fatalf("set smaller: %v", err)
	}
	if got := observe(t, c); !got.Equal(smaller) {
		t.Fatalf("after change: observed %v, want %v", got, smaller)
	}
	for i := range 2 { // deleting what is gone succeeds
		if err := c.Delete(); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	if n := observe(t, c); !n.IsZero() {
		t.Fatalf("after delete: observed %v", n)
	}
	if list := nftList(t, ns); strings.Contains(list, "vxbgp") {
		t.Fatalf("after delete nft still lists our table:\n%s", list)
	}
}

// TestOthersUntouched: tables of others (kube-proxy's, the operator's)
// survive every Set and Delete of ours.
func TestOthersUntouched(t *testing.T) {
	c, _, ns := open(t)
	nstest.RequireTool(t, "nft")
	nstest.Run(t, "ip", "netns", "exec", ns, "nft", "add table ip kube-proxy; add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority srcnat; }; add rule ip kube-proxy nat-postrouting ip saddr 10.0.0.0/8 masquerade; add table inet vxbgpx")
	before := nftList(t, ns)
	if err := c.Set(dualStack()); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if after := nftList(t, ns); after != before {
		t.Fatalf("other tables changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestForeignEdits: whatever someone changes in our table shows as a
// difference, and Set repairs it.
func TestForeignEdits(t *testing.T) {
	want := dualStack()
	for _, tc := range []struct{ name, cmd string }{
		{"extra rule", "add rule inet vxbgp postrouting ip saddr 10.0.0.0/8 accept"},
		{"rule deleted", "flush chain inet vxbgp postrouting"},
		{"extra chain", "add chain inet vxbgp other"},
		{"set added", "add set inet vxbgp s { type ipv4_addr; }"},
		{"chain replaced", "delete chain inet vxbgp postrouting; add chain inet vxbgp postrouting { type nat hook postrouting priority 50; }"},
		{"table deleted", "delete table inet vxbgp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, ns := open(t)
			nstest.RequireTool(t, "nft")
			if err := c.Set(want); err != nil {
				t.Fatal(err)
			}
			nstest.Run(t, "ip", "netns", "exec", ns, "nft", tc.cmd)
			if got := observe(t, c); got.Equal(want) {
				t.Fatalf("after %q: observed the desired NAT; the edit went unnoticed\n%s", tc.cmd, nftList(t, ns))
			}
			if err := c.Set(want); err != nil {
				t.Fatalf("repair: %v", err)
			}
			if got := observe(t, c); !got.Equal(want) {
				t.Fatalf("after repair: observed %v", got)
			}
		})
	}
}

// TestBadRules: Set refuses what it cannot encode, and changes nothing.
func TestBadRules(t *testing.T) {
	c, _, _ := open(t)
	for _, n := range []overlay.NAT{
		{Rules: []overlay.Masquerade{{Network: "x"}}},
		{Rules: []overlay.Masquerade{{Network: "x", Src: pfx("10.0.0.0/8"), Except: []netip.Prefix{pfx("fd00::/8")}}}},
	} {
		if err := c.Set(n); err == nil {
			t.Errorf("set %v: no error", n)
		}
	}
	if n := observe(t, c); !n.IsZero() {
		t.Fatalf("a refused set left %v", n)
	}
}

// TestClosed: a closed Conn refuses work instead of opening a socket in
// whatever namespace the calling thread is in.
func TestClosed(t *testing.T) {
	c, _, _ := open(t)
	c.Close()
	if _, err := c.Observe(); err == nil {
		t.Fatal("observe on a closed conn: no error")
	}
	if err := c.Set(dualStack()); err == nil {
		t.Fatal("set on a closed conn: no error")
	}
}
