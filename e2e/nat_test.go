package e2e

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/overlay"
)

const echoPort = 7777

// TestNATOutgoing: pod egress (networks[].natOutgoing, default true) in
// both modes, dual-stack, on 2 hosts with an outside network behind h1
// (lab.AddOutside: 192.0.2.0/24 and 2001:db8:2::/64, in no subnet, routed
// by h2 via h1 as a fabric's hosts route to their border). A UDP echo
// server in the outside namespace reports the source it sees:
//
//   - a pod on h2 reaching it over IPv4 and IPv6 is seen as h2's underlay
//     address (masqueraded on h2, forwarded untouched by h1);
//   - pod to pod keeps the pods' addresses (the receiving pod sees the
//     sender's pod IP, IPv4 and IPv6);
//   - an agent restart keeps the established NAT flow (the same source
//     port is seen after it: conntrack kept the binding);
//   - natOutgoing false on the network (both hosts restarted with it):
//     table inet vxbgp is gone on both, and the outside sees the pod's own
//     address (and cannot answer it: it has no route to the pods, as the
//     internet would not).
func TestNATOutgoing(t *testing.T) {
	for _, mode := range []string{"overlay", modeRouted} {
		t.Run(mode, func(t *testing.T) { testNATOutgoing(t, mode) })
	}
}

func testNATOutgoing(t *testing.T, mode string) {
	ctx := testCtx(t, 4*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 2, Mode: mode, DualStack: true})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	out, err := l.AddOutside(ctx, h1)
	must(t, err)
	pods := addPods(t, ctx, l, 1)
	p1, p2 := pods[0], pods[1]
	if mode == modeRouted {
		convergeRouted(t, ctx, l)
	} else {
		converge(t, ctx, l)
	}

	for _, h := range l.Hosts {
		waitNAT(t, ctx, h, []string{
			`nat ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade fully-random comment "pods"`,
			`nat ip6 saddr fd00:10:244::/48 ip6 daddr != fd00:10:244::/48 masquerade fully-random comment "pods"`,
		})
	}

	// Egress from h2's pod: the outside sees h2's underlay address.
	echo4 := startEcho(t, out.NS, out.Addr)
	echo6 := startEcho(t, out.NS, out.Addr6)
	flow := dial(t, p2.NS, echo4.Addr)
	seen := ask(t, ctx, flow, "h2p1 -> outside (IPv4)")
	if seen.Addr().String() != h2.Addr || flow.Local.Addr() != p2.IP {
		t.Errorf("h2p1 (%s) -> outside: seen from %s, want h2's underlay address %s", flow.Local, seen, h2.Addr)
	}
	t.Logf("h2p1 %s -> outside %s: seen from %s", flow.Local, echo4.Addr, seen)
	flow6 := dial(t, p2.NS, echo6.Addr)
	seen6 := ask(t, ctx, flow6, "h2p1 -> outside (IPv6)")
	if seen6.Addr().String() != h2.Addr6 || flow6.Local.Addr() != p2.IP6 {
		t.Errorf("h2p1 (%s) -> outside: seen from %s, want h2's IPv6 underlay address %s", flow6.Local, seen6, h2.Addr6)
	}
	t.Logf("h2p1 %s -> outside %s: seen from %s", flow6.Local, echo6.Addr, seen6)

	// Pod to pod, across hosts, keeps the pods' addresses.
	for _, tc := range []struct {
		name     string
		from, to netip.Addr
	}{{"IPv4", p2.IP, p1.IP}, {"IPv6", p2.IP6, p1.IP6}} {
		e := startEcho(t, p1.NS, tc.to)
		c := dial(t, p2.NS, e.Addr)
		if got := ask(t, ctx, c, "h2p1 -> h1p1 ("+tc.name+")"); got.Addr() != tc.from {
			t.Errorf("h2p1 -> h1p1 %s: h1p1 sees %s, want the pod's own %s", tc.name, got, tc.from)
		}
	}

	// The agent restarting disturbs no NAT flow: the same binding after.
	must(t, h2.Stop(ctx))
	must(t, h2.Start(ctx))
	if again := ask(t, ctx, flow, "h2p1 -> outside after h2's restart"); again != seen {
		t.Errorf("after h2's agent restart the flow is seen from %s, before from %s", again, seen)
	}

	// natOutgoing false on the network (a property of the network: on
	// every host; a host with it on masquerades any packet of the network
	// it forwards outwards, another host's pods' too): no table anywhere,
	// the pod's own address outside.
	off := false
	for _, h := range l.Hosts {
		h.Config.Networks[0].NATOutgoing = &off
		must(t, lab.WriteConfig(h.ConfigPath, h.Config))
		must(t, h.Stop(ctx))
		must(t, h.Start(ctx))
	}
	start := time.Now()
	for _, h := range l.Hosts {
		must(t, lab.Eventually(ctx, h.Name+"'s NAT table gone", 100*time.Millisecond, func(context.Context) (bool, error) {
			n, err := lab.NATTable(h.NS)
			return n.IsZero(), err
		}))
	}
	t.Logf("TIMING: the NAT tables gone %v after the restarts with natOutgoing false (after the initial sync, as every delete)", time.Since(start).Round(time.Millisecond))
	plain := dial(t, p2.NS, echo4.Addr)
	if got, err := plain.Ask(ctx, 3, 500*time.Millisecond); err == nil {
		t.Errorf("natOutgoing false: the outside answered a pod it has no route to, seen from %s", got)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := lab.Eventually(wctx, "the outside seeing h2p1's own address", 100*time.Millisecond, func(context.Context) (bool, error) {
		return slices.Contains(echo4.Seen(), plain.Local), nil
	}); err != nil {
		t.Errorf("%v: it saw %v", err, echo4.Seen())
	}
	t.Logf("natOutgoing false: outside saw %v", echo4.Seen())
}

// waitNAT waits until h's NAT table holds exactly want's rules (as
// overlay.Masquerade.String prints them).
func waitNAT(t *testing.T, ctx context.Context, h *lab.Host, want []string) {
	t.Helper()
	var last overlay.NAT
	err := lab.Eventually(ctx, h.Name+"'s NAT table", 100*time.Millisecond, func(context.Context) (bool, error) {
		n, err := lab.NATTable(h.NS)
		last = n
		var got []string
		for _, r := range n.Rules {
			got = append(got, r.String())
		}
		return slices.Equal(got, want), err
	})
	if err != nil {
		t.Fatalf("%v\nhave:\n%v\nwant:\n%s", err, last.Rules, strings.Join(want, "\n"))
	}
}

func startEcho(t *testing.T, ns string, addr netip.Addr) *lab.UDPEcho {
	t.Helper()
	e, err := lab.StartUDPEcho(ns, addr, echoPort)
	must(t, err)
	t.Cleanup(e.Close)
	return e
}

func dial(t *testing.T, ns string, dst netip.AddrPort) *lab.UDPClient {
	t.Helper()
	c, err := lab.DialUDP(ns, dst)
	must(t, err)
	t.Cleanup(c.Close)
	return c
}

// ask asks the echo server who we are, with retries: the first packets
// of IPv6 may wait for neighbour discovery, routes may trail.
func ask(t *testing.T, ctx context.Context, c *lab.UDPClient, what string) netip.AddrPort {
	t.Helper()
	seen, err := c.Ask(ctx, 20, 500*time.Millisecond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return seen
}
