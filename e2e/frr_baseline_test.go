package e2e

import (
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestFRRBaseline runs the lab with two FRR hosts only (no vxbgp binary
// needed): their servers ping each other through EVPN-learned FDB entries,
// as in shared/notes/frr/RECIPE.md. It checks the harness itself and gives
// the FRR-to-FRR reference numbers.
func TestFRRBaseline(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	start := time.Now()
	l := newLab(t, ctx, lab.Options{FRRHosts: 2})
	converge(t, ctx, l)
	f1, f2 := l.FRR[0], l.FRR[1]
	m := lab.PingMatrix(ctx, []lab.Endpoint{f1.Server(), f2.Server()})
	t.Logf("ping matrix:\n%s", m)
	if failed := m.Failed(); len(failed) > 0 {
		t.Errorf("pings failed: %v", failed)
	}
	pfx, err := f1.EVPNPrefixes(ctx)
	must(t, err)
	for _, want := range []string{lab.Type2Prefix(f2.ServerMAC, ""), lab.Type3Prefix(f2.Addr)} {
		if _, ok := pfx[want]; !ok {
			t.Errorf("f1 lacks %s; has %v", want, pfx)
		}
	}
	t.Logf("TIMING: FRR-only lab up and pinging in %v", time.Since(start).Round(time.Millisecond))
}
