package bench_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/bench"
	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// require skips loudly when the machine cannot run the lab, and fails
// instead under CI=true, where a skip would hide a missing piece.
func require(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, p := range []string{"/usr/lib/frr/zebra", "/usr/lib/frr/bgpd"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, b := range []string{"vtysh", "iperf3", "ss", "ip", "bridge", "go"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "SKIPPING the bench smoke test: needs " + strings.Join(missing, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true)")
	}
	t.Skip(msg)
}

// TestQuickRun builds the binaries and runs `vxbgp-bench -quick` (all
// parts, both bulk sizes, the Go micro-benchmarks once); it checks that
// every row and the offload notes are printed, that no row failed and that
// the Markdown and JSON results are written. It does not judge the figures.
func TestQuickRun(t *testing.T) {
	require(t)
	if testing.Short() {
		t.Skip("SKIPPING the bench smoke test in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// The lab's namespaces exec these binaries; FRR's user is not involved.
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
	outDir := filepath.Join(dir, "results")
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "vxbgp-bench"), "-quick", "-bin", dir, "-out", outDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("vxbgp-bench -quick took %v:\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Errorf("vxbgp-bench -quick: %v\nstderr: %s", err, stderr.String())
	}
	text := string(out)
	for _, want := range bench.Expected {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks a line for %q", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "ERROR") {
			t.Errorf("failed row: %s", line)
		}
	}
	md, err := os.ReadFile(filepath.Join(outDir, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(outDir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatalf("decode latest.json: %v", err)
	}
	for _, want := range bench.Expected {
		if !strings.Contains(string(md), want) {
			t.Errorf("latest.md lacks %q", want)
		}
	}
	if len(rep.Rows) < len(bench.Expected)-1 || !rep.Quick {
		t.Errorf("latest.json: %d rows, quick=%v", len(rep.Rows), rep.Quick)
	}
	// Each expected row exactly once (the bulk sizes are distinct rows).
	for _, want := range bench.Expected {
		if want == bench.NoteOffloads {
			continue
		}
		n := 0
		for _, r := range rep.Rows {
			if strings.HasPrefix(r.What, want) {
				n++
				if r.Err != "" {
					t.Errorf("latest.json: %q failed: %s", r.What, r.Err)
				}
			}
		}
		if n != 1 {
			t.Errorf("latest.json: %d rows named %q, want 1", n, want)
		}
	}
}

// TestK8sTiny runs the k8s part's tiny version (`vxbgp-bench -quick -only
// k8s`: a 2-node cluster, one batch of 4 pods and 3 CRI sandboxes a side)
// so the part cannot rot while the cluster lab changes under it; a quick
// run of all parts leaves k8s out. It checks the three rows are printed
// without ERROR, not the figures.
func TestK8sTiny(t *testing.T) {
	require(t)
	if testing.Short() {
		t.Skip("SKIPPING the k8s bench smoke test in -short mode")
	}
	for _, tool := range []string{"containerd", "ctr", "runc", "nsenter", "unshare", "/usr/lib/cni/bridge"} {
		nstest.RequireTool(t, tool) // fails under CI, skips loudly elsewhere
	}
	kubelab.Require(t, kubelab.APIServer, kubelab.ControllerManager, kubelab.Scheduler, kubelab.Kubelet)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"./cmd/vxbgpd", "./cmd/vxbgpctl", "./cmd/vxbgp-cni", "./internal/kubelab/cmd/kubelab-pause", "./bench/cmd/vxbgp-bench"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", pkg)
		cmd.Dir, cmd.Env = "..", append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	outDir := filepath.Join(dir, "results")
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "vxbgp-bench"), "-quick", "-only", bench.PartK8s, "-bin", dir, "-out", outDir, "-v")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("vxbgp-bench -quick -only k8s took %v:\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Errorf("vxbgp-bench -quick -only k8s: %v\nstderr (tail): %s", err, lastLines(stderr.String(), 60))
	}
	js, err := os.ReadFile(filepath.Join(outDir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatalf("decode latest.json: %v", err)
	}
	for _, want := range bench.ExpectedK8s {
		n := 0
		for _, r := range rep.Rows {
			if r.What == want {
				n++
				if r.Err != "" || r.Ours <= 0 || r.Ref <= 0 {
					t.Errorf("%q: ours %v, ref %v, error %q", r.What, r.Ours, r.Ref, r.Err)
				}
			}
		}
		if n != 1 {
			t.Errorf("latest.json: %d rows named %q, want 1", n, want)
		}
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
