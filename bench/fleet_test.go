package bench_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/bench"
)

// TestFleetSmall runs the fleet part at a small size (`vxbgp-bench -only
// fleet -fleet 6 -fleet-pods 3 -fleet-churn 4`: 6 hosts, h1 and h2 route
// reflectors, 18 pods, 3 churn rounds of 4 pods) so the 50-host part
// cannot rot: every fleet row is printed once, none failed, the results
// are written, and no namespace of the run is left behind. It does not
// judge the figures.
func TestFleetSmall(t *testing.T) {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, b := range []string{"ip", "bridge", "go"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		msg := "SKIPPING the fleet smoke test: needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true)")
		}
		t.Skip(msg)
	}
	if testing.Short() {
		t.Skip("SKIPPING the fleet smoke test in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"./cmd/vxbgpd", "./cmd/vxbgpctl", "./cmd/vxbgp-cni", "./bench/cmd/vxbgp-bench"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", pkg)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	before, _ := os.ReadDir("/run/netns")
	outDir := filepath.Join(dir, "results")
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "vxbgp-bench"), "-only", bench.PartFleet,
		"-fleet", "6", "-fleet-pods", "3", "-fleet-churn", "4", "-bin", dir, "-out", outDir)
	// SIGTERM, not SIGKILL, at the deadline: the harness then removes
	// its lab.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Minute
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("vxbgp-bench -only fleet (6 hosts) took %v:\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Errorf("vxbgp-bench -only fleet: %v\nstderr: %s", err, stderr.String())
	}
	js, err := os.ReadFile(filepath.Join(outDir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatalf("decode latest.json: %v", err)
	}
	if len(rep.Rows) != len(bench.FleetExpected) {
		t.Errorf("latest.json: %d rows, want %d (the fleet's)", len(rep.Rows), len(bench.FleetExpected))
	}
	for _, want := range bench.FleetExpected {
		n := 0
		for _, r := range rep.Rows {
			if r.What == want {
				n++
				if r.Err != "" {
					t.Errorf("%q failed: %s", r.What, r.Err)
				}
				if r.Ours <= 0 {
					t.Errorf("%q: %v, want a positive figure", r.What, r.Ours)
				}
			}
		}
		if n != 1 {
			t.Errorf("latest.json: %d rows named %q, want 1", n, want)
		}
	}
	after, _ := os.ReadDir("/run/netns")
	if len(after) > len(before) {
		var names []string
		for _, e := range after {
			names = append(names, e.Name())
		}
		t.Errorf("%d namespaces before the run, %d after: %v", len(before), len(after), names)
	}
}
