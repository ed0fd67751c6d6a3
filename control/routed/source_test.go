package routed

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

func hostConfig(n int) Config {
	return Config{
		Blocks: []netip.Prefix{
			netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", n)),
			netip.MustParsePrefix(fmt.Sprintf("fd00:10:244:%d::/64", n)),
		},
		NextHop4:       netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", n)),
		NextHop6:       netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", n)),
		Subnets:        []netip.Prefix{subnet4, subnet6},
		ImportPrefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		SyncTimeout:    time.Minute, // only End-of-RIB may close Synced
	}
}

// Two dual-stack hosts and a router, iBGP full mesh: each host installs
// the other's blocks via its next hop, the router's default route
// (importPrefixes) and nothing outside the allowed ranges, nothing inside
// its own block, nothing via itself; Synced closes on End-of-RIB; a
// withdrawal removes the route.
func TestRouted(t *testing.T) {
	a := newHost(t, "A", "127.0.0.121", "10.0.0.121", testASN, hostConfig(1))
	b := newHost(t, "B", "127.0.0.122", "10.0.0.122", testASN, hostConfig(2))
	r := newSpeaker(t, "R", "127.0.0.123", "10.0.0.123", testASN, nil, nil)
	a.run(t)
	b.run(t)
	// The first snapshot is empty, and comes at once.
	if got := a.routes(); got != "" {
		t.Fatalf("A's first snapshot: %q", got)
	}
	r.Originate(t, "0.0.0.0/0", "192.0.2.3")
	r.Originate(t, "10.0.0.0/8", "192.0.2.3")         // outside: only 0.0.0.0/0 is imported exactly
	r.Originate(t, "192.168.99.0/24", "192.0.2.3")    // outside
	r.Originate(t, "2001:db8:99::/48", "2001:db8::3") // outside
	r.Originate(t, "10.244.1.5/32", "192.0.2.3")      // inside A's block: A ignores it, B installs it
	r.Originate(t, "10.244.9.0/24", "192.0.2.2")      // via B: B ignores it, A installs it
	r.Originate(t, "10.244.0.0/16", "192.0.2.3")      // the whole subnet: nobody installs it

	start := time.Now()
	a.Peer(t, dualStack, b.Speaker, r)
	b.Peer(t, dualStack, a.Speaker, r)
	r.Peer(t, dualStack, a.Speaker, b.Speaker)

	waitRoutes(t, a, "A after the mesh",
		"10.244.2.0/24 192.0.2.2", "fd00:10:244:2::/64 2001:db8::2", "0.0.0.0/0 192.0.2.3", "10.244.9.0/24 192.0.2.2")
	waitRoutes(t, b, "B after the mesh",
		"10.244.1.0/24 192.0.2.1", "fd00:10:244:1::/64 2001:db8::1", "0.0.0.0/0 192.0.2.3", "10.244.1.5/32 192.0.2.3")
	for _, h := range []*host{a, b} {
		select {
		case <-h.src.Synced():
		case <-time.After(sessionTimeout):
			t.Fatalf("%s: Synced did not close after End-of-RIB from its peers", h.Name)
		}
	}
	t.Logf("synced by End-of-RIB %v after the peers were configured", time.Since(start).Round(time.Millisecond))

	// Routes: ours, and every received path; Best where installed.
	want := []string{
		"0.0.0.0/0 via 192.0.2.3 from " + r.IP + " best",
		"10.244.0.0/16 via 192.0.2.3 from " + r.IP,
		"10.244.1.0/24 via 192.0.2.1 from " + a.IP + " best",
		"10.244.1.5/32 via 192.0.2.3 from " + r.IP + " best",
		"10.244.2.0/24 via 192.0.2.2 from local best",
		"10.244.9.0/24 via 192.0.2.2 from " + r.IP,
		"fd00:10:244:1::/64 via 2001:db8::1 from " + a.IP + " best",
		"fd00:10:244:2::/64 via 2001:db8::2 from local best",
	}
	if got := listed(b.src.Routes()); !slices.Equal(got, want) {
		t.Fatalf("B's Routes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A withdraws its IPv4 block: B removes the route.
	if err := a.DeleteUnicast(context.Background(), netip.MustParsePrefix("10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, b, "B after A's withdrawal",
		"fd00:10:244:1::/64 2001:db8::1", "0.0.0.0/0 192.0.2.3", "10.244.1.5/32 192.0.2.3")
	// A hard stop takes the rest of A's routes away.
	a.stop()
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, b, "B after A stopped", "0.0.0.0/0 192.0.2.3", "10.244.1.5/32 192.0.2.3")
}

// listed renders Routes as "prefix via nexthop from source[ best]",
// sorted by family, address, length, source.
func listed(rs []Listed) []string {
	slices.SortFunc(rs, func(a, b Listed) int {
		return cmp.Or(cmp.Compare(a.Prefix.Addr().BitLen(), b.Prefix.Addr().BitLen()), a.Prefix.Addr().Compare(b.Prefix.Addr()),
			cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.Peer, b.Peer))
	})
	var out []string
	for _, r := range rs {
		src := r.Peer
		if src == "" {
			src = "local"
		}
		l := fmt.Sprintf("%s via %s from %s", r.Prefix, r.NextHop, src)
		if r.Best {
			l += " best"
		}
		out = append(out, l)
	}
	return out
}

// ECMP: a host between two upstream routers in their own ASes (eBGP), both
// announcing a default route and another rack's block, installs multipath
// routes; losing one upstream leaves single-path ones. The host sends the
// upstreams its own block only: what it learned from one never reaches
// the other.
func TestRoutedECMP(t *testing.T) {
	h := newHost(t, "H", "127.0.0.131", "10.0.0.131", testASN, hostConfig(1))
	u1 := newSpeaker(t, "U1", "127.0.0.132", "10.0.0.132", 65001, []netip.Prefix{subnet4, subnet6}, nil)
	u2 := newSpeaker(t, "U2", "127.0.0.133", "10.0.0.133", 65002, []netip.Prefix{subnet4, subnet6}, nil)
	h.run(t)
	ru2 := bgptest.WatchUnicast(t, u2.Speaker)
	for _, u := range []struct {
		s   *bgptest.Speaker
		nh4 string
		nh6 string
	}{{u1, "192.0.2.11", "2001:db8::11"}, {u2, "192.0.2.12", "2001:db8::12"}} {
		u.s.Originate(t, "0.0.0.0/0", u.nh4)
		u.s.Originate(t, "10.244.50.0/24", u.nh4)
		u.s.Originate(t, "fd00:10:244:50::/64", u.nh6)
	}
	u1.Originate(t, "10.244.60.0/24", "192.0.2.11") // U1 only: must not reach U2 through H
	h.Peer(t, dualStack, u1, u2)
	u1.Peer(t, dualStack, h.Speaker)
	u2.Peer(t, dualStack, h.Speaker)

	waitRoutes(t, h, "H's ECMP routes",
		"0.0.0.0/0 192.0.2.11,192.0.2.12",
		"10.244.50.0/24 192.0.2.11,192.0.2.12",
		"fd00:10:244:50::/64 2001:db8::11,2001:db8::12",
		"10.244.60.0/24 192.0.2.11")
	select {
	case <-h.src.Synced():
	case <-time.After(sessionTimeout):
		t.Fatal("H: Synced did not close")
	}
	// U2 has H's full table once H's End-of-RIBs are in.
	bgptest.WaitFor(t, "End-of-RIB from H at U2", sessionTimeout, func() bool {
		return ru2.Has("eor ipv4 "+h.IP) && ru2.Has("eor ipv6 "+h.IP)
	})
	wantU2 := strings.Join([]string{
		"0.0.0.0/0 192.0.2.12@local",
		"10.244.1.0/24 192.0.2.1@" + h.IP,
		"10.244.50.0/24 192.0.2.12@local",
		"fd00:10:244:1::/64 2001:db8::1@" + h.IP,
		"fd00:10:244:50::/64 2001:db8::12@local",
	}, "\n")
	if got := ru2.Text(); got != wantU2 {
		t.Fatalf("U2's table:\n%s\nwant\n%s", got, wantU2)
	}

	// U1 goes away (hard stop): single-path routes via U2.
	if err := u1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, h, "H after U1 stopped",
		"0.0.0.0/0 192.0.2.12", "10.244.50.0/24 192.0.2.12", "fd00:10:244:50::/64 2001:db8::12")
}

// Without peers only SyncTimeout closes Synced; Ready closes once the
// blocks are in the speaker, which then holds them as local routes.
func TestRoutedAlone(t *testing.T) {
	c := hostConfig(1)
	c.SyncTimeout = 50 * time.Millisecond
	h := newHost(t, "H", "127.0.0.141", "10.0.0.141", testASN, c).run(t)
	select {
	case <-h.src.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("Synced did not close after SyncTimeout")
	}
	want := []string{
		"10.244.1.0/24 via 192.0.2.1 from local best",
		"fd00:10:244:1::/64 via 2001:db8::1 from local best",
	}
	if got := listed(h.src.Routes()); !slices.Equal(got, want) {
		t.Fatalf("Routes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		paths, err := h.ListPaths(context.Background(), fam)
		if err != nil || len(paths) != 1 {
			t.Fatalf("%s loc-rib: %d paths, %v", fam, len(paths), err)
		}
	}
	if got := h.routes(); got != "" {
		t.Fatalf("snapshot with our own blocks only: %q", got)
	}
}

// A bad configuration fails Run at once.
func TestRoutedBadConfig(t *testing.T) {
	s := newSpeaker(t, "S", "127.0.0.151", "10.0.0.151", testASN, nil, nil)
	src := NewSource(Config{Blocks: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}}, s.Speaker, func(overlay.Delta) {})
	if err := src.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "next hop (IPv4)") {
		t.Fatalf("Run: %v", err)
	}
}

// Host routes (the agent's chained endpoints): a chained endpoint put
// before or after Run is advertised as /32 and /128 routes via our next
// hops besides the blocks; the peer installs them, and a changed or
// deleted endpoint withdraws what it no longer holds. Endpoints that are
// not chained are inside the blocks: no host route.
func TestRoutedHostRoutes(t *testing.T) {
	a := newHost(t, "A", "127.0.0.161", "10.0.0.161", testASN, hostConfig(1))
	b := newHost(t, "B", "127.0.0.162", "10.0.0.162", testASN, hostConfig(2))
	ep := func(id string, chained bool, ips ...string) endpoint.Endpoint {
		e := endpoint.Endpoint{ContainerID: id, IfName: "eth0", Network: "pods", MAC: overlay.MustParseMAC("02:00:00:00:00:01"), Chained: chained}
		for _, ip := range ips {
			e.IPs = append(e.IPs, netip.MustParseAddr(ip))
		}
		return e
	}
	// Before Run: taken once Run starts.
	a.src.PutEndpoint(ep("c1", true, "10.244.200.10", "fd00:10:244:200::10"))
	a.src.PutEndpoint(ep("p1", false, "10.244.1.7")) // a pod of the block: no host route
	a.run(t)
	b.run(t)
	a.Peer(t, dualStack, b.Speaker)
	b.Peer(t, dualStack, a.Speaker)
	blocksOfA := []string{"10.244.1.0/24 192.0.2.1", "fd00:10:244:1::/64 2001:db8::1"}
	waitRoutes(t, b, "B with A's host routes",
		append(blocksOfA, "10.244.200.10/32 192.0.2.1", "fd00:10:244:200::10/128 2001:db8::1")...)
	// A never installs its own host routes.
	waitRoutes(t, a, "A", "10.244.2.0/24 192.0.2.2", "fd00:10:244:2::/64 2001:db8::2")
	want := []string{
		"10.244.1.0/24 via 192.0.2.1 from local best",
		"10.244.2.0/24 via 192.0.2.2 from " + b.IP + " best",
		"10.244.200.10/32 via 192.0.2.1 from local best",
		"fd00:10:244:1::/64 via 2001:db8::1 from local best",
		"fd00:10:244:2::/64 via 2001:db8::2 from " + b.IP + " best",
		"fd00:10:244:200::10/128 via 2001:db8::1 from local best",
	}
	if got := listed(a.src.Routes()); !slices.Equal(got, want) {
		t.Fatalf("A's Routes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// After Run: a second endpoint, then the first one changes.
	a.src.PutEndpoint(ep("c2", true, "10.244.200.11"))
	a.src.PutEndpoint(ep("c1", true, "10.244.200.11")) // now claims c2's address too
	waitRoutes(t, b, "B after A's changes", append(blocksOfA, "10.244.200.11/32 192.0.2.1")...)
	a.src.DeleteEndpoint(endpoint.Key{ContainerID: "c2", IfName: "eth0"})
	waitRoutes(t, b, "B after c2 went (c1 still claims the address)", append(blocksOfA, "10.244.200.11/32 192.0.2.1")...)
	a.src.DeleteEndpoint(endpoint.Key{ContainerID: "c1", IfName: "eth0"})
	a.src.DeleteEndpoint(endpoint.Key{ContainerID: "p1", IfName: "eth0"})
	waitRoutes(t, b, "B after A withdrew every host route", blocksOfA...)
	for _, fam := range []string{"ipv4", "ipv6"} {
		paths, err := a.ListPaths(context.Background(), fam)
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != 2 { // the two blocks
			t.Errorf("%s loc-rib of A: %d paths, want the 2 blocks", fam, len(paths))
		}
	}
}
