package e2e

import (
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestFRRInterop: three vxbgp hosts and an FRR 8.4 host (zebra + bgpd,
// advertise-all-vni) in one iBGP EVPN mesh. FRR's server and every pod ping
// each other both ways; FRR lists our type-2 (MAC+IP) and type-3 routes;
// our hosts hold the server's MAC with FRR's VTEP as destination.
func TestFRRInterop(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3, FRRHosts: 1})
	addPods(t, ctx, l, 2)
	converge(t, ctx, l)
	f := l.FRR[0]

	eps := append(lab.PodEndpoints(l.Pods()), f.Server())
	m := lab.PingMatrix(ctx, eps)
	t.Logf("ping matrix with FRR's server:\n%s", m)
	if failed := m.Failed(); len(failed) > 0 {
		t.Errorf("%d pairs failed: %v", len(failed), failed)
	}

	pfx, err := f.EVPNPrefixes(ctx)
	must(t, err)
	for _, p := range l.Pods() {
		if _, ok := pfx[lab.Type2Prefix(p.MAC, p.IP.String())]; !ok {
			t.Errorf("FRR lacks the type-2 %s of %s", lab.Type2Prefix(p.MAC, p.IP.String()), p.Name)
		}
	}
	for _, h := range l.Hosts {
		if _, ok := pfx[lab.Type3Prefix(h.Addr)]; !ok {
			t.Errorf("FRR lacks the type-3 %s of %s", lab.Type3Prefix(h.Addr), h.Name)
		}
	}
	if t.Failed() {
		out, _ := f.Vtysh(ctx, "show bgp l2vpn evpn")
		t.Logf("FRR show bgp l2vpn evpn:\n%s", out)
	}
	// FRR imported them, not just stored them (RECIPE gotcha 3): its
	// kernel has our pods behind our VTEPs, and flood entries to each.
	ffdb, err := lab.ReadFDB(ctx, f.NS, lab.VXLANDev)
	must(t, err)
	var want []string
	for _, h := range l.Hosts {
		want = append(want, h.Addr)
	}
	if got := lab.FloodDsts(ffdb); !sameSet(got, want) {
		t.Errorf("FRR flood entries to %v, want %v", got, want)
	}

	for _, h := range l.Hosts {
		fdb, err := lab.ReadFDB(ctx, h.NS, lab.VXLANDev)
		must(t, err)
		if _, ok := lab.RemoteEntry(fdb, f.ServerMAC, f.Addr); !ok {
			t.Errorf("%s: no `%s dst %s self` for FRR's server; have %v", h.Name, f.ServerMAC, f.Addr, lab.FindFDB(fdb, f.ServerMAC))
		}
		if !hasMaster(lab.FindFDB(fdb, f.ServerMAC)) {
			t.Errorf("%s: no master entry for FRR's server: %v", h.Name, lab.FindFDB(fdb, f.ServerMAC))
		}
		if !slices.Contains(lab.FloodDsts(fdb), f.Addr) {
			t.Errorf("%s: no flood entry to FRR's VTEP %s: %v", h.Name, f.Addr, lab.FloodDsts(fdb))
		}
		routes, err := h.Routes(ctx)
		must(t, err)
		if !lab.HasType2(routes, f.ServerMAC, "") {
			t.Errorf("%s: vxbgpctl routes lacks FRR's type-2 for %s", h.Name, f.ServerMAC)
		}
	}

	// FRR peers EVPN only: it never sends an IPv4 End-of-RIB, and each
	// host's initial table must still complete on End-of-RIBs (FRR's for
	// EVPN, the other agents' for both), not on the 30 s timeout that
	// holds back deletes of stale kernel entries.
	for _, h := range l.Hosts {
		must(t, h.WaitSynced(ctx, "overlay"))
		b, err := os.ReadFile(h.LogPath)
		must(t, err)
		for _, c := range []string{"evpn", "routed"} {
			re := regexp.MustCompile(`table complete" component=` + c + ` reason=(\S+)`)
			if m := re.FindSubmatch(b); m == nil || string(m[1]) != "end-of-rib" {
				t.Errorf("%s: %s table completed by %q, want end-of-rib", h.Name, c, m)
			}
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
