package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestDualStackRouted: a dual-stack network in routed mode on 3 hosts × 2
// pods, each host with an IPv6 underlay address (lab.Host.Addr6). Each
// host advertises its block6 as IPv6 unicast with that address as next
// hop, so every host has exactly one IPv6 agent route (protocol
// lab.RouteProto) per remote block6, via that block's host's IPv6 underlay
// address, and no other; `vxbgpctl routes` lists every block6 as an ipv6
// route. Every ordered pod pair pings over IPv4 and over
// IPv6: a pod's neighbour solicitation for a remote pod is answered by the
// agent's ND proxy with the bridge's MAC (router flag set), which the
// test checks in the pods' neighbour caches.
func TestDualStackRouted(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	start := time.Now()
	l := newLab(t, ctx, lab.Options{Hosts: 3, Mode: modeRouted, DualStack: true})
	pods := addPods(t, ctx, l, 2)
	convergeRouted(t, ctx, l)

	for _, p := range pods {
		if !p.IP6.IsValid() || !p.IP.Is4() {
			t.Fatalf("%s: addresses %s and %s, want an IPv4 and an IPv6", p.Name, p.IP, p.IP6)
		}
	}
	for _, h := range l.Hosts {
		if h.Addr6 == "" {
			t.Fatalf("%s: no IPv6 underlay address in a dual-stack lab", h.Name)
		}
		if devs, err := lab.VXLANDevices(ctx, h.NS); err != nil || len(devs) > 0 {
			t.Errorf("%s: vxlan devices %v in routed mode (err %v)", h.Name, devs, err)
		}
	}

	// The IPv6 blocks may trail the IPv4 ones by an UPDATE.
	t6 := time.Now()
	for _, h := range l.Hosts {
		must(t, lab.Eventually(ctx, h.Name+" IPv6 routes to every remote block6", 20*time.Millisecond, func(ctx context.Context) (bool, error) {
			routes, err := lab.AgentRoutes6(ctx, h.NS)
			if err != nil {
				return false, err
			}
			if bad := badBlock6Routes(l, h, routes); len(bad) > 0 {
				return false, fmt.Errorf("%s", strings.Join(bad, "; "))
			}
			return true, nil
		}))
	}
	t.Logf("TIMING: IPv6 block routes complete %v after the IPv4 ones", time.Since(t6).Round(time.Millisecond))
	for _, h := range l.Hosts {
		rs, err := h.Routes(ctx)
		must(t, err)
		var ipv6 []string
		for _, r := range rs {
			if r.Type == "ipv6" {
				ipv6 = append(ipv6, r.IP)
			}
		}
		for _, o := range l.Hosts {
			if !slices.Contains(ipv6, o.Block6()) {
				t.Errorf("%s: vxbgpctl routes has no ipv6 route %s; ipv6 routes: %v", h.Name, o.Block6(), ipv6)
			}
		}
	}

	for name, eps := range map[string][]lab.Endpoint{"IPv4": lab.PodEndpoints(pods), "IPv6": lab.PodEndpoints6(pods)} {
		pingEveryPair(t, ctx, eps, 30, name+", routed")
	}

	// Each pod reached every remote pod through its bridge's MAC, learnt
	// from the agent's neighbour advertisement (router flag set).
	for _, h := range l.Hosts {
		mac := linkMAC(t, ctx, h.NS, lab.BridgeDev)
		for _, p := range pods {
			if p.Host != h {
				continue
			}
			for _, q := range pods {
				if q.Host == h {
					continue
				}
				out, err := lab.IP(ctx, p.NS, "-6", "neigh", "show", "to", q.IP6.String(), "dev", p.IfName)
				must(t, err)
				if !strings.Contains(out, "lladdr "+mac) || !strings.Contains(out, " router") {
					t.Errorf("%s: neighbour %s is %q, want lladdr %s (the bridge's) with the router flag", p.Name, q.IP6, strings.TrimSpace(out), mac)
				}
			}
		}
	}
	if t.Failed() {
		for _, h := range l.Hosts {
			out, _ := lab.IP(ctx, h.NS, "-6", "route", "show")
			t.Logf("%s IPv6 routes:\n%s", h.Name, out)
		}
		return
	}
	t.Logf("TIMING: dual-stack routed 3x2 lab built, converged and pinged in %v", time.Since(start).Round(time.Millisecond))
}

// badBlock6Routes lists what is wrong with h's IPv6 agent routes: a remote
// block6 without exactly one route via its host's IPv6 underlay address,
// or any other route (h's own block6 on-link aside).
func badBlock6Routes(l *lab.Lab, h *lab.Host, routes []lab.KernelRoute) []string {
	remote := l.RemoteBlocks6(h)
	count := map[string]int{}
	var bad []string
	for _, r := range routes {
		count[r.Dst]++
		switch via, isBlock := remote[r.Dst]; {
		case isBlock:
			if g := r.Gateways(); !slices.Equal(g, []string{via}) {
				bad = append(bad, fmt.Sprintf("route %s, want via %s only", r, via))
			}
		case r.Dst == h.Block6() && len(r.Gateways()) == 0:
		default:
			bad = append(bad, "unexpected agent route "+r.String())
		}
	}
	for b, via := range remote {
		if count[b] != 1 {
			bad = append(bad, fmt.Sprintf("%d agent routes for %s (via %s), want 1", count[b], b, via))
		}
	}
	slices.Sort(bad)
	return bad
}

// linkMAC returns dev's MAC in ns, lowercase.
func linkMAC(t *testing.T, ctx context.Context, ns, dev string) string {
	t.Helper()
	out, err := lab.IP(ctx, ns, "-j", "link", "show", "dev", dev)
	must(t, err)
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("%s: decode link %s: %v (%q)", ns, dev, err, out)
	}
	return strings.ToLower(links[0].Address)
}

// TestDualStackRoutedNoUnderlay6: a routed-mode host with a dual-stack
// network but no global IPv6 address on its underlay device refuses to
// start, and says why.
func TestDualStackRoutedNoUnderlay6(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 1, Mode: modeRouted, DualStack: true, NoStart: true})
	h := l.Host(1)
	h.ExpectExit()
	_, err := lab.IP(ctx, h.NS, "addr", "del", h.Addr6+"/64", "dev", "eth0")
	must(t, err)
	err = h.Start(ctx)
	if err == nil {
		t.Fatal("vxbgpd started in routed mode with subnet6 and no IPv6 underlay address")
	}
	if want := "eth0 has no global IPv6 address"; !strings.Contains(err.Error(), want) {
		t.Errorf("start error %q lacks %q", err, want)
	}
}
