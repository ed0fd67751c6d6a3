package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// requireBinaries skips the test (fails under CI=true) when a binary it
// needs did not build.
func requireBinaries(t *testing.T, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = []string{lab.BinAgent, lab.BinCtl, lab.BinCNI}
	}
	for _, n := range names {
		if err := binaries.errs[n]; err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("e2e test needs %s, which did not build: %v", n, err)
			}
			t.Skipf("SKIPPED: e2e test needs %s, which did not build: %v", n, err)
		}
	}
}

// testCtx bounds a whole test; it ends at cleanup.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newLab builds a lab for this test and removes it at cleanup, printing the
// daemons' logs first if the test failed.
func newLab(t *testing.T, ctx context.Context, opts lab.Options) *lab.Lab {
	t.Helper()
	nstest.Require(t)
	if opts.FRRHosts > 0 {
		nstest.RequireTool(t, "vtysh")
		if _, err := os.Stat("/usr/lib/frr/zebra"); err != nil {
			nstest.RequireTool(t, "zebra") // skips or fails with the reason
		}
	}
	if opts.Hosts > 0 {
		requireBinaries(t)
	}
	opts.BinDir = binaries.dir
	opts.Logf = t.Logf
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	l, err := lab.New(ctx, opts)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		for _, p := range l.Health() {
			t.Errorf("lab health: %s", p)
		}
		if t.Failed() {
			t.Logf("daemon logs of lab %s:\n%s", l.ID, l.LogTail(60))
			dir := filepath.Join(os.TempDir(), "vxbgp-e2e-logs", strings.ReplaceAll(t.Name(), "/", "_")+"-"+l.ID)
			if err := l.SaveLogs(dir); err != nil {
				t.Logf("save logs: %v", err)
			} else {
				t.Logf("full daemon logs saved in %s", dir)
			}
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := l.Close(cctx); err != nil {
			t.Errorf("lab cleanup: %v", err)
		}
	})
	return l
}

// addPods creates perHost pods on every vxbgp host, named h<i>p<j>.
func addPods(t *testing.T, ctx context.Context, l *lab.Lab, perHost int) []*lab.Pod {
	t.Helper()
	var pods []*lab.Pod
	for _, h := range l.Hosts {
		for j := 1; j <= perHost; j++ {
			p, err := l.Pod(ctx, h, fmt.Sprintf("%sp%d", h.Name, j))
			if err != nil {
				t.Fatalf("pod: %v", err)
			}
			pods = append(pods, p)
		}
	}
	return pods
}

// converge waits for all BGP sessions and for every FDB to hold every
// remote MAC, logging both times.
func converge(t *testing.T, ctx context.Context, l *lab.Lab) {
	t.Helper()
	if d, err := l.WaitAllPeers(ctx); err != nil {
		t.Fatalf("peers: %v", err)
	} else {
		t.Logf("TIMING: BGP sessions established %v after the wait began", d.Round(time.Millisecond))
	}
	if d, err := l.WaitConverged(ctx); err != nil {
		t.Fatalf("converge: %v", err)
	} else {
		t.Logf("TIMING: FDB converged %v after the sessions", d.Round(time.Millisecond))
	}
}

// pingEveryPair pings every ordered pair of eps, logs the grid under what
// and fails the test unless all want pairs answer.
func pingEveryPair(t *testing.T, ctx context.Context, eps []lab.Endpoint, want int, what string) {
	t.Helper()
	m := lab.PingMatrix(ctx, eps)
	t.Logf("ping matrix (%s):\n%s", what, m)
	if m.Pairs() != want {
		t.Errorf("%s: pinged %d pairs, want %d", what, m.Pairs(), want)
	}
	if failed := m.Failed(); len(failed) > 0 {
		t.Errorf("%s: %d pairs failed: %v", what, len(failed), failed)
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// missingOn lists the remote pods host h has no vxlan entry for.
func missingOn(ctx context.Context, l *lab.Lab, h *lab.Host) ([]string, error) {
	fdb, err := lab.ReadFDB(ctx, h.NS, lab.VXLANDev)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range l.Pods() {
		if p.Host == h {
			continue
		}
		if _, ok := lab.RemoteEntry(fdb, p.MAC, p.Host.Addr); !ok {
			missing = append(missing, p.Name)
		}
	}
	return missing, nil
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(text), 0o644))
}

// stopLossPing stops p and returns how many requests it sent, how many
// went unanswered, and where: each window of losses with its time after
// ref (the fault, named by what in the text). Stop waits for answers in
// flight, so a request unanswered here was lost.
func stopLossPing(t *testing.T, p *lab.LossPing, ref time.Time, what string) (sent, lost int, where []string) {
	t.Helper()
	st, err := p.Stop()
	must(t, err)
	for _, w := range st.Windows {
		lost += w.Lost()
		where = append(where, fmt.Sprintf("seq %d-%d at %s (%+v after the %s)", w.FromSeq, w.ToSeq,
			w.At.Format("15:04:05.0"), w.At.Sub(ref).Round(100*time.Millisecond), what))
	}
	return st.Transmitted, lost, where
}
