package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// Routed mode: no VXLAN; each host advertises its block as IPv4
// unicast with its underlay address as next hop and installs the blocks it
// receives as kernel routes with protocol lab.RouteProto.

const (
	modeRouted  = "routed"
	modeOverlay = "overlay"
)

// TestRoutedLab: 3 hosts × 2 pods in routed mode, iBGP full mesh. All 30
// ordered pod pairs ping; no host has a vxlan device; each host has exactly
// one agent route per remote block, via that block's host, and no other
// agent route; `vxbgpctl status` says routed and `vxbgpctl routes` lists
// the three blocks as ipv4 routes.
func TestRoutedLab(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	start := time.Now()
	l := newLab(t, ctx, lab.Options{Hosts: 3, Mode: modeRouted})
	addPods(t, ctx, l, 2)
	convergeRouted(t, ctx, l)

	pingEveryPair(t, ctx, lab.PodEndpoints(l.Pods()), 30, "routed")

	var blocks []string
	for _, h := range l.Hosts {
		blocks = append(blocks, h.Block())
	}
	for _, h := range l.Hosts {
		if devs, err := lab.VXLANDevices(ctx, h.NS); err != nil || len(devs) > 0 {
			t.Errorf("%s: vxlan devices %v in routed mode (err %v)", h.Name, devs, err)
		}
		if _, err := lab.IP(ctx, h.NS, "link", "show", "dev", lab.BridgeDev); err != nil {
			t.Errorf("%s: no pod bridge %s: %v", h.Name, lab.BridgeDev, err)
		}
		routes, err := lab.AgentRoutes(ctx, h.NS)
		must(t, err)
		checkBlockRoutes(t, l, h, routes, "", nil)

		st, err := h.Status(ctx)
		must(t, err)
		if st.Mode != modeRouted {
			t.Errorf("%s: vxbgpctl status mode %q, want %q", h.Name, st.Mode, modeRouted)
		}
		var ipv4 []string
		rs, err := h.Routes(ctx)
		must(t, err)
		for _, r := range rs {
			if r.Type == "ipv4" {
				ipv4 = append(ipv4, r.IP)
			}
		}
		for _, b := range blocks {
			if !slices.Contains(ipv4, b) {
				t.Errorf("%s: vxbgpctl routes has no ipv4 route %s; ipv4 routes: %v", h.Name, b, ipv4)
			}
		}
	}
	t.Logf("TIMING: routed 3x2 lab built, converged and pinged in %v", time.Since(start).Round(time.Millisecond))
}

// checkBlockRoutes checks h's agent routes: exactly one per remote block,
// via the block's host (or via router, if not ""); besides them only the
// prefixes in allowed (any next hop) and h's own block on-link. It reports
// errors and goes on.
func checkBlockRoutes(t *testing.T, l *lab.Lab, h *lab.Host, routes []lab.KernelRoute, router string, allowed []string) {
	t.Helper()
	remote := l.RemoteBlocks(h)
	count := map[string]int{}
	for _, r := range routes {
		count[r.Dst]++
		switch via, isBlock := remote[r.Dst]; {
		case isBlock:
			g := r.Gateways()
			if !slices.Equal(g, []string{via}) && (router == "" || !slices.Equal(g, []string{router})) {
				t.Errorf("%s: route %s, want via %s only", h.Name, r, strings.TrimSuffix(via+" or "+router, " or "))
			}
		case slices.Contains(allowed, r.Dst):
		case r.Dst == h.Block() && len(r.Gateways()) == 0:
		default:
			t.Errorf("%s: unexpected agent route %s", h.Name, r)
		}
	}
	for b, via := range remote {
		if count[b] != 1 {
			t.Errorf("%s: %d agent routes for %s (via %s), want 1; all: %v", h.Name, count[b], b, via, routes)
		}
	}
}

// convergeRouted waits for all BGP sessions and every host's routes to
// every remote block via its host, logging both times.
func convergeRouted(t *testing.T, ctx context.Context, l *lab.Lab) {
	t.Helper()
	if d, err := l.WaitAllPeers(ctx); err != nil {
		t.Fatalf("peers: %v", err)
	} else {
		t.Logf("TIMING: BGP sessions established %v after the wait began", d.Round(time.Millisecond))
	}
	if d, err := l.WaitRouted(ctx); err != nil {
		t.Fatalf("routes: %v", err)
	} else {
		t.Logf("TIMING: block routes converged %v after the sessions", d.Round(time.Millisecond))
	}
}

// The ToR scenario's prefixes: the server's subnet behind the router
// (admitted by bgp.importPrefixes), a prefix inside the pod subnet (always
// admitted) and one outside every allowed range.
const (
	torServerNet  = "192.168.77.0/24"
	torServerAddr = "192.168.77.10/24"
	torInsideNet  = "10.244.250.0/24"
	torOutsideNet = "172.31.9.0/24"
)

// TestRoutedFRRToR: three routed hosts with their own ASNs (64601..64603)
// peer eBGP only with an FRR router (AS 65000) on the underlay, which
// announces a server subnet behind it, a prefix inside the pod subnet and
// one outside every allowed range. FRR learns exactly the three blocks,
// each from its own host and nothing else from any host; every host
// installs the server subnet and the inside prefix via FRR, not the outside
// one; the server and the pods ping each other, and pods ping across hosts.
func TestRoutedFRRToR(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	l := newLab(t, ctx, lab.Options{
		Hosts: 3, Mode: modeRouted, NoMesh: true,
		// Distinct ASNs: with one ASN, FRR's reflection of host A's block
		// to host B would carry B's own ASN and be dropped as a loop.
		HostASN: func(i int) uint32 { return 64600 + uint32(i) },
		Routers: []lab.RouterSpec{{
			ASN:      65000,
			Networks: []string{torServerNet, torInsideNet, torOutsideNet},
			Server:   torServerAddr,
		}},
		Configure: func(h *lab.Host, c *lab.HostConfig) {
			c.BGP.ImportPrefixes = []string{torServerNet}
		},
	})
	r := l.Routers[0]
	addPods(t, ctx, l, 2)
	if d, err := l.WaitAllPeers(ctx); err != nil {
		t.Fatalf("peers: %v", err)
	} else {
		t.Logf("TIMING: eBGP sessions with FRR established %v after the wait began", d.Round(time.Millisecond))
	}

	// FRR learns every block.
	start := time.Now()
	err := lab.Eventually(ctx, "FRR to learn every block", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		table, err := r.Table(ctx)
		if err != nil {
			return false, err
		}
		var missing []string
		for _, h := range l.Hosts {
			if _, ok := table[h.Block()]; !ok {
				missing = append(missing, h.Block())
			}
		}
		return len(missing) == 0, fmt.Errorf("missing %v", missing)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING: FRR had every block %v after the sessions", time.Since(start).Round(time.Millisecond))

	// Every host installs what it may: the other blocks (via FRR or the
	// block's host: FRR keeps a third-party next hop on a shared subnet),
	// the server subnet and the inside prefix via FRR.
	start = time.Now()
	for _, h := range l.Hosts {
		err := lab.Eventually(ctx, h.Name+" routes from FRR", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			routes, err := lab.AgentRoutes(ctx, h.NS)
			if err != nil {
				return false, err
			}
			var missing []string
			for _, p := range []string{torServerNet, torInsideNet} {
				if rt, ok := lab.FindRoute(routes, p); !ok || !slices.Equal(rt.Gateways(), []string{r.Addr}) {
					missing = append(missing, p+" via "+r.Addr)
				}
			}
			for b, via := range l.RemoteBlocks(h) {
				rt, ok := lab.FindRoute(routes, b)
				if !ok || len(rt.Gateways()) != 1 || (rt.Gateways()[0] != via && rt.Gateways()[0] != r.Addr) {
					missing = append(missing, b+" via "+via+" or "+r.Addr)
				}
			}
			return len(missing) == 0, fmt.Errorf("missing %v; have %v", missing, routes)
		})
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("TIMING: every host installed FRR's routes %v after FRR had the blocks", time.Since(start).Round(time.Millisecond))

	// FRR's table: exactly the three blocks plus its own three networks;
	// each block only from its own host.
	table, err := r.Table(ctx)
	must(t, err)
	want := []string{torServerNet, torInsideNet, torOutsideNet}
	owner := map[string]*lab.Host{}
	for _, h := range l.Hosts {
		want = append(want, h.Block())
		owner[h.Block()] = h
	}
	var got []string
	for p := range table {
		got = append(got, p)
	}
	if !sameSet(got, want) {
		t.Errorf("FRR's ipv4 unicast table has %v, want exactly %v", sorted(got), sorted(want))
	}
	for p, paths := range table {
		for _, path := range paths {
			h, isBlock := owner[p]
			switch {
			case isBlock && path.PeerID != h.Addr:
				t.Errorf("FRR has %s from %s (AS path %q), want it only from %s", p, path.PeerID, path.ASPath, h.Name)
			case !isBlock && !path.Local():
				t.Errorf("FRR has %s from %s (AS path %q): a host sent a prefix that is not its block", p, path.PeerID, path.ASPath)
			}
		}
	}
	// What each host sent, before FRR's loop check and policy: its block
	// and nothing else (no re-advertised blocks of other hosts, no FRR
	// routes sent back).
	for _, h := range l.Hosts {
		rcvd, err := r.ReceivedRoutes(ctx, h.Addr)
		must(t, err)
		if !slices.Equal(rcvd, []string{h.Block()}) {
			t.Errorf("%s sent FRR %v, want only its block %s", h.Name, rcvd, h.Block())
		}
	}

	// Each host: the outside prefix is not installed, by the agent or at all.
	for _, h := range l.Hosts {
		routes, err := lab.AgentRoutes(ctx, h.NS)
		must(t, err)
		if rt, ok := lab.FindRoute(routes, torOutsideNet); ok {
			t.Errorf("%s installed %s, which is outside every allowed range: %s", h.Name, torOutsideNet, rt)
		}
		if out, err := lab.IP(ctx, h.NS, "-4", "route", "show", "table", "all", torOutsideNet); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("%s: kernel has a route for %s: %q %v", h.Name, torOutsideNet, out, err)
		}
		checkBlockRoutes(t, l, h, routes, r.Addr, []string{torServerNet, torInsideNet})
	}
	if t.Failed() {
		out, _ := r.Vtysh(ctx, "show bgp ipv4 unicast")
		t.Logf("FRR show bgp ipv4 unicast:\n%s", out)
	}

	eps := append(lab.PodEndpoints(l.Pods()), r.Server())
	m := lab.PingMatrix(ctx, eps)
	t.Logf("ping matrix with the server behind FRR:\n%s", m)
	if failed := m.Failed(); len(failed) > 0 {
		t.Errorf("%d pairs failed: %v", len(failed), failed)
	}
}

const ecmpNet = "192.168.88.0/24"

// TestRoutedECMP: one routed host peers with two FRR routers (same AS) that
// both announce the same prefix (admitted by bgp.importPrefixes): the
// host's kernel route for it has both routers as next hops. When one
// router withdraws it, the route keeps only the other; when it announces
// it again, both are back.
func TestRoutedECMP(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{
		Hosts: 1, Mode: modeRouted, NoMesh: true,
		HostASN: func(int) uint32 { return 64601 },
		Routers: []lab.RouterSpec{
			{ASN: 65000, Networks: []string{ecmpNet}},
			{ASN: 65000, Networks: []string{ecmpNet}},
		},
		Configure: func(h *lab.Host, c *lab.HostConfig) {
			c.BGP.ImportPrefixes = []string{ecmpNet}
		},
	})
	h, r1, r2 := l.Host(1), l.Routers[0], l.Routers[1]
	if d, err := l.WaitAllPeers(ctx); err != nil {
		t.Fatalf("peers: %v", err)
	} else {
		t.Logf("TIMING: sessions with both routers established %v after the wait began", d.Round(time.Millisecond))
	}
	both := []string{r1.Addr, r2.Addr}
	slices.Sort(both)

	d, err := waitGateways(ctx, h, ecmpNet, both)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING: multipath route %s via %v installed %v after the sessions", ecmpNet, both, d.Round(time.Millisecond))
	out, _ := lab.IP(ctx, h.NS, "route", "show", ecmpNet)
	t.Logf("%s: ip route show %s:\n%s", h.Name, ecmpNet, out)

	must(t, r2.Configure(ctx, "no network "+ecmpNet))
	if d, err := waitGateways(ctx, h, ecmpNet, []string{r1.Addr}); err != nil {
		t.Error(err)
	} else {
		t.Logf("TIMING: %s withdrew %s; route via %s only %v later", r2.Name, ecmpNet, r1.Addr, d.Round(time.Millisecond))
	}
	must(t, r2.Configure(ctx, "network "+ecmpNet))
	if d, err := waitGateways(ctx, h, ecmpNet, both); err != nil {
		t.Error(err)
	} else {
		t.Logf("TIMING: %s announced %s again; multipath back %v later", r2.Name, ecmpNet, d.Round(time.Millisecond))
	}
}

// waitGateways waits up to 30 s until h's agent route to dst has exactly
// the next hops want (sorted).
func waitGateways(ctx context.Context, h *lab.Host, dst string, want []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	err := lab.Eventually(ctx, fmt.Sprintf("%s route %s via %v", h.Name, dst, want), 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		routes, err := lab.AgentRoutes(ctx, h.NS)
		if err != nil {
			return false, err
		}
		r, ok := lab.FindRoute(routes, dst)
		if !ok {
			return false, fmt.Errorf("no route; agent routes %v", routes)
		}
		if !slices.Equal(r.Gateways(), want) {
			return false, fmt.Errorf("have %s", r)
		}
		return true, nil
	})
	return time.Since(start), err
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}
