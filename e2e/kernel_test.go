package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// TestKernelEntries checks the kernel objects the agents programmed, in the
// layout of shared/notes/lab/README.md, and that ARP for a remote pod is
// answered by the local bridge instead of crossing the tunnel.
func TestKernelEntries(t *testing.T) {
	nstest.RequireTool(t, "tcpdump")
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3})
	addPods(t, ctx, l, 2)
	converge(t, ctx, l)
	pods := l.Pods()

	for _, h := range l.Hosts {
		fdb, err := lab.ReadFDB(ctx, h.NS, lab.VXLANDev)
		must(t, err)
		neigh, err := lab.ReadNeigh(ctx, h.NS, lab.BridgeDev)
		must(t, err)
		for _, p := range pods {
			if p.Host == h {
				// Local pods are reached through their veth, never the tunnel.
				if e, ok := firstSelf(lab.FindFDB(fdb, p.MAC)); ok {
					t.Errorf("%s: local pod %s has a vxlan entry: %s", h.Name, p.Name, e)
				}
				continue
			}
			self, ok := lab.RemoteEntry(fdb, p.MAC, p.Host.Addr)
			switch {
			case !ok:
				t.Errorf("%s: no `%s dev %s dst %s self extern_learn` for %s; have %v",
					h.Name, p.MAC, lab.VXLANDev, p.Host.Addr, p.Name, lab.FindFDB(fdb, p.MAC))
			case !self.Has("extern_learn"):
				t.Errorf("%s: %s entry lacks extern_learn: %s", h.Name, p.Name, self)
			}
			if n := countSelf(lab.FindFDB(fdb, p.MAC)); n > 1 {
				t.Errorf("%s: %d vxlan entries for %s, want 1: %v", h.Name, n, p.Name, lab.FindFDB(fdb, p.MAC))
			}
			if !hasMaster(lab.FindFDB(fdb, p.MAC)) {
				t.Errorf("%s: no `%s dev %s master %s extern_learn` for %s; have %v",
					h.Name, p.MAC, lab.VXLANDev, lab.BridgeDev, p.Name, lab.FindFDB(fdb, p.MAC))
			}
			n, ok := lab.FindNeigh(neigh, p.IP.String())
			switch {
			case !ok:
				t.Errorf("%s: no `neigh %s lladdr %s dev %s noarp` for %s", h.Name, p.IP, p.MAC, lab.BridgeDev, p.Name)
			case !strings.EqualFold(n.LLAddr, p.MAC) || !n.HasState("NOARP"):
				t.Errorf("%s: neighbour for %s is %s, want lladdr %s NOARP", h.Name, p.Name, n, p.MAC)
			case !n.ExternLearn:
				t.Logf("%s: note: neighbour for %s has no extern_learn: %s", h.Name, p.Name, n)
			}
		}
		// Exactly one flood entry per remote VTEP.
		var want []string
		for _, o := range l.Hosts {
			if o != h {
				want = append(want, o.Addr)
			}
		}
		got := lab.FloodDsts(fdb)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: flood entries to %v, want one each to %v", h.Name, got, want)
		}
	}
	if t.Failed() {
		out, _ := lab.Bridge(ctx, l.Host(1).NS, "fdb", "show", "dev", lab.VXLANDev)
		t.Logf("h1 fdb:\n%s", out)
		out, _ = lab.IP(ctx, l.Host(1).NS, "neigh", "show", "dev", lab.BridgeDev)
		t.Logf("h1 neigh:\n%s", out)
	}

	// ARP suppression: a pod with an empty neighbour cache pings a remote
	// pod; its ARP request must be answered by its own host's bridge, so a
	// capture of the tunnel between the hosts shows ICMP but no ARP.
	a, b := pods[0], podOn(t, pods, l.Host(2))
	_, err := lab.IP(ctx, a.NS, "neigh", "flush", "all")
	must(t, err)
	capt, err := lab.StartCapture(ctx, l.Underlay, a.Host.Name, "udp port 4789")
	must(t, err)
	st, err := lab.Ping(ctx, a.NS, b.IP.String(), 3)
	if err == nil {
		// Let tcpdump print the last reply (and so all before it).
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_ = capt.WaitCount(wctx, "ICMP echo", 2*st.Received)
		cancel()
	}
	dump := capt.Stop()
	must(t, err)
	if st.Received != st.Transmitted {
		t.Errorf("ping %s -> %s: %d/%d answered", a.Name, b.Name, st.Received, st.Transmitted)
	}
	arp := lab.CountLines(dump, "ARP,")
	icmp := lab.CountLines(dump, "ICMP echo")
	t.Logf("tunnel capture on underlay port %s: %d ICMP echo, %d ARP lines", a.Host.Name, icmp, arp)
	if icmp < 2*st.Received {
		t.Errorf("capture saw %d ICMP echo packets for %d answered pings: not capturing the tunnel?\n%s", icmp, st.Received, dump)
	}
	if arp != 0 {
		t.Errorf("%d ARP frames crossed the tunnel, want 0:\n%s", arp, dump)
	}
	nb, err := lab.ReadNeigh(ctx, a.NS, "eth0")
	must(t, err)
	if n, ok := lab.FindNeigh(nb, b.IP.String()); !ok || !strings.EqualFold(n.LLAddr, b.MAC) {
		t.Errorf("%s resolved %s to %v (found %v), want %s", a.Name, b.IP, n.LLAddr, ok, b.MAC)
	}
}

func firstSelf(list []lab.FDBEntry) (lab.FDBEntry, bool) {
	for _, e := range list {
		if e.Has("self") && e.Dst != "" {
			return e, true
		}
	}
	return lab.FDBEntry{}, false
}

func countSelf(list []lab.FDBEntry) int {
	n := 0
	for _, e := range list {
		if e.Has("self") && e.Dst != "" {
			n++
		}
	}
	return n
}

// hasMaster reports whether the bridge ("master") entry of a remote MAC is
// present: it points the bridge at the vxlan port.
func hasMaster(list []lab.FDBEntry) bool {
	for _, e := range list {
		if e.Master == lab.BridgeDev && !e.Has("self") && e.Has("extern_learn") {
			return true
		}
	}
	return false
}

func podOn(t *testing.T, pods []*lab.Pod, h *lab.Host) *lab.Pod {
	t.Helper()
	for _, p := range pods {
		if p.Host == h {
			return p
		}
	}
	t.Fatalf("no pod on %s", h.Name)
	return nil
}
