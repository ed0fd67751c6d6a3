package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestDualStackOverlay: a dual-stack overlay network (subnet6
// fd00:10:244::/48, gateway6 fd00:10:244::1, host i's block6
// fd00:10:244:<i>::/64) on 3 hosts × 2 pods. Every pod gets an IPv4 and an
// IPv6 address from its host's blocks; every host's bridge holds the IPv6
// anycast gateway and, from the IPv6 type-2 routes, a `nud noarp`
// neighbour for every remote pod's IPv6 address; every ordered pod pair
// pings over IPv4 and over IPv6; deleting a pod withdraws its IPv6
// neighbour everywhere.
func TestDualStackOverlay(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3, DualStack: true})
	pods := addPods(t, ctx, l, 2)
	converge(t, ctx, l)

	for _, p := range pods {
		block6 := netip.MustParsePrefix(p.Host.Block6())
		if !p.IP6.IsValid() || !block6.Contains(p.IP6) || p.Prefix6.Bits() != 48 {
			t.Fatalf("%s: IPv6 %s (prefix %s), want an address of %s with the subnet's /48", p.Name, p.IP6, p.Prefix6, block6)
		}
		if !p.IP.Is4() {
			t.Fatalf("%s: no IPv4 address: %s", p.Name, p.IP)
		}
	}
	for _, h := range l.Hosts {
		out, err := lab.IP(ctx, h.NS, "-6", "addr", "show", "dev", lab.BridgeDev, "scope", "global")
		must(t, err)
		if !strings.Contains(out, "inet6 "+lab.PodGateway6+"/48") {
			t.Errorf("%s: %s lacks the IPv6 anycast gateway %s/48:\n%s", h.Name, lab.BridgeDev, lab.PodGateway6, out)
		}
	}

	// Converged means FDB entries; the IPv6 neighbours come with the
	// IPv6 type-2 routes, which may trail the IPv4 ones by an UPDATE.
	start := time.Now()
	must(t, lab.Eventually(ctx, "IPv6 neighbours of every remote pod", 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		err := remoteNeigh6Missing(ctx, l, pods)
		return err == nil, err
	}))
	t.Logf("TIMING: IPv6 neighbours complete %v after FDB convergence", time.Since(start).Round(time.Millisecond))

	for name, eps := range map[string][]lab.Endpoint{"IPv4": lab.PodEndpoints(pods), "IPv6": lab.PodEndpoints6(pods)} {
		pingEveryPair(t, ctx, eps, 30, name)
	}
	if t.Failed() {
		out, _ := lab.IP(ctx, l.Host(1).NS, "-6", "neigh", "show", "dev", lab.BridgeDev)
		t.Logf("h1 IPv6 neighbours:\n%s", out)
		return
	}

	// ND suppression, as ARP in TestKernelEntries: a pod with an empty
	// IPv6 neighbour cache pings a remote pod; its neighbour solicitation
	// is answered by its own host's bridge from the noarp entry, so none
	// for the remote pod crosses the tunnel.
	if _, err := exec.LookPath("tcpdump"); err == nil {
		a, b := pods[0], podOn(t, pods, l.Host(2))
		_, err := lab.IP(ctx, a.NS, "-6", "neigh", "flush", "all")
		must(t, err)
		capt, err := lab.StartCapture(ctx, l.Underlay, a.Host.Name, "udp port 4789")
		must(t, err)
		st, err := lab.Ping(ctx, a.NS, b.IP6.String(), 3)
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_ = capt.WaitCount(wctx, "ICMP6, echo", 2*st.Received)
			cancel()
		}
		dump := capt.Stop()
		must(t, err)
		echo := lab.CountLines(dump, "ICMP6, echo")
		ns := lab.CountLines(dump, "who has "+b.IP6.String())
		t.Logf("tunnel capture on underlay port %s: %d ICMPv6 echo, %d neighbour solicitations for %s", a.Host.Name, echo, ns, b.Name)
		if st.Received != st.Transmitted || echo < 2*st.Received {
			t.Errorf("ping -6 %s -> %s: %d/%d answered, %d echo packets captured:\n%s", a.Name, b.Name, st.Received, st.Transmitted, echo, dump)
		}
		if ns != 0 {
			t.Errorf("%d neighbour solicitations for %s crossed the tunnel, want 0:\n%s", ns, b.IP6, dump)
		}
		nb, err := lab.ReadNeigh(ctx, a.NS, "eth0")
		must(t, err)
		if n, ok := lab.FindNeigh(nb, b.IP6.String()); !ok || !strings.EqualFold(n.LLAddr, b.MAC) {
			t.Errorf("%s resolved %s to %v (found %v), want %s", a.Name, b.IP6, n.LLAddr, ok, b.MAC)
		}
	}

	// DEL withdraws both routes: the IPv6 neighbour leaves every host.
	gone := pods[0]
	must(t, l.DelPod(ctx, gone))
	must(t, lab.Eventually(ctx, "withdrawal of "+gone.Name+"'s IPv6 neighbour", 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, h := range l.Hosts {
			neigh, err := lab.ReadNeigh(ctx, h.NS, lab.BridgeDev)
			if err != nil {
				return false, err
			}
			if n, ok := lab.FindNeigh(neigh, gone.IP6.String()); ok {
				return false, fmt.Errorf("%s still has %s", h.Name, n)
			}
		}
		return true, nil
	}))
}

// remoteNeigh6Missing returns an error naming the first host whose bridge
// lacks the `<ip6> lladdr <mac> nud noarp` neighbour of a remote pod.
func remoteNeigh6Missing(ctx context.Context, l *lab.Lab, pods []*lab.Pod) error {
	for _, h := range l.Hosts {
		neigh, err := lab.ReadNeigh(ctx, h.NS, lab.BridgeDev)
		if err != nil {
			return err
		}
		for _, p := range pods {
			if p.Host == h {
				continue
			}
			n, ok := lab.FindNeigh(neigh, p.IP6.String())
			switch {
			case !ok:
				return fmt.Errorf("%s: no `neigh %s lladdr %s dev %s nud noarp` for %s", h.Name, p.IP6, p.MAC, lab.BridgeDev, p.Name)
			case !strings.EqualFold(n.LLAddr, p.MAC) || !n.HasState("NOARP"):
				return fmt.Errorf("%s: IPv6 neighbour for %s is %s, want lladdr %s NOARP", h.Name, p.Name, n, p.MAC)
			}
		}
	}
	return nil
}
