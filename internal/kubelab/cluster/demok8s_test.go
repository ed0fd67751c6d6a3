package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// TestDemoK8s runs what make demo-k8s runs (`vxbgp-lab demo-k8s`, built
// from this tree, with this tree's binaries, image and manifests) and
// checks what it prints: every pod pair OK, the Deployment's pods spread
// 3 per node by the scheduler as kubectl shows them, where to go next, and
// nothing left afterwards. Then with KEEP=1: the cluster outlives the
// demo, kubectl reaches it as printed, and demo-k8s-clean removes it.
func TestDemoK8s(t *testing.T) {
	nstest.Require(t)
	for _, tool := range []string{"containerd", "ctr", "runc", "nsenter", "unshare", "etcd"} {
		nstest.RequireTool(t, tool)
	}
	kubelab.Require(t, kubelab.APIServer, kubelab.ControllerManager, kubelab.Scheduler, kubelab.Kubelet, "kubectl")
	root := filepath.Dir(filepath.Dir(filepath.Dir(mustGetwd(t))))
	bin := buildBinaries(t)
	buildImage(t, root, bin) // bin/vxbgp-image.tar, as make image
	demo := filepath.Join(bin, "vxbgp-lab")
	build := exec.Command("go", "build", "-o", demo, "./e2e/cmd/vxbgp-lab")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build vxbgp-lab: %v: %s", err, out)
	}
	// A lab root of the test's own: its runs and keepers' records only.
	labRoot, err := os.MkdirTemp("", "vxk8s-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(labRoot) })
	env := append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KEEP=") || strings.HasPrefix(kv, "VXBGP_LAB_ROOT=")
	}), "VXBGP_LAB_ROOT="+labRoot)
	run := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, demo, args...)
		cmd.Dir, cmd.Env = root, env
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // it cleans up on SIGINT
		cmd.WaitDelay = 3 * time.Minute
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("vxbgp-lab %s failed (%v) after %v:\n%s", strings.Join(args, " "), err, time.Since(t0).Round(time.Millisecond), out)
		}
		t.Logf("TIMING vxbgp-lab %s: %v", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond))
		return string(out)
	}
	args := []string{"demo-k8s", "-bin", bin}

	// Without the tools on $PATH it must say what to install, and start
	// nothing.
	t.Run("preflight", func(t *testing.T) {
		cmd := exec.Command(demo, args...)
		cmd.Dir = root
		cmd.Env = append(slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }),
			"PATH="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("demo-k8s with an empty $PATH exited 0:\n%s", out)
		}
		for _, want := range []string{"needs `ip`", "apt-get install containerd", "apt-get install etcd-server"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("demo-k8s with an empty $PATH does not say %q:\n%s", want, out)
			}
		}
		if strings.Contains(string(out), "starting a cluster") {
			t.Errorf("demo-k8s with an empty $PATH started anyway:\n%s", out)
		}
	})

	t.Run("default", func(t *testing.T) {
		out := run(t, env, args...)
		t.Logf("the demo's output:\n%s", out)
		checkDemoK8s(t, out)
		for _, want := range []string{"KEEP=1 make demo-k8s", "cluster removed in"} {
			if !strings.Contains(out, want) {
				t.Errorf("the demo's output does not say %q", want)
			}
		}
		checkGone(t, out)
	})

	t.Run("KEEP=1 then demo-k8s-clean", func(t *testing.T) {
		t.Cleanup(func() { // a keeper left by a failure: remove its cluster
			if recs, _ := filepath.Glob(filepath.Join(labRoot, "demo-k8s", "*.json")); len(recs) > 0 {
				cmd := exec.Command(demo, "demo-k8s-clean")
				cmd.Env = env
				out, _ := cmd.CombinedOutput()
				t.Logf("after the failure: %s", out)
			}
		})
		out := run(t, append(env, "KEEP=1"), args...)
		checkDemoK8s(t, out)
		recs, _ := filepath.Glob(filepath.Join(labRoot, "demo-k8s", "*.json"))
		if len(recs) != 1 {
			t.Fatalf("%d keeper records in %s, want 1:\n%s", len(recs), labRoot, out)
		}
		var rec keeperRecord
		b, _ := os.ReadFile(recs[0])
		if err := json.Unmarshal(b, &rec); err != nil || !running(rec.PID) {
			t.Fatalf("keeper record %s: %v, or the keeper is gone", b, err)
		}
		// The command the demo printed, run as an operator would.
		m := regexp.MustCompile(`(?m)^\s+(ip netns exec \S+ \S+/kubectl --kubeconfig \S+) get pods -o wide$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no kubectl command in the output of a kept demo:\n%s", out)
		}
		kubectl := append(strings.Fields(m[1]), "get", "pods", "-o", "wide")
		got, err := exec.Command(kubectl[0], kubectl[1:]...).CombinedOutput()
		if err != nil || strings.Count(string(got), "Running") != 9 {
			t.Errorf("%s after the demo exited: %v\n%s", strings.Join(kubectl, " "), err, got)
		}
		clean := run(t, env, "demo-k8s-clean")
		t.Logf("demo-k8s-clean:\n%s", clean)
		if running(rec.PID) {
			t.Errorf("keeper %d still runs after demo-k8s-clean", rec.PID)
		}
		if _, err := os.Stat(rec.Cluster); !os.IsNotExist(err) {
			t.Errorf("the kept cluster's work dir %s is left: %v", rec.Cluster, err)
		}
		checkGone(t, out)
	})
}

// running reports whether pid is a live process: not gone, not a zombie
// (an orphan's exit is reaped late, or never, by this machine's PID 1).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// keeperRecord is the part of vxbgp-lab's keeper record the test reads.
type keeperRecord struct {
	PID     int    `json:"pid"`
	Cluster string `json:"cluster"`
}

var (
	pairsLine = regexp.MustCompile(`(?m)^(\d+)/(\d+) pairs OK`)
	labLine   = regexp.MustCompile(`lab (vx[0-9a-f]{4}):`)
)

// checkDemoK8s wants the 9 pods' 72 ordered pairs OK, kubectl's pods
// 3 per node and Running, and the pointers to what comes next.
func checkDemoK8s(t *testing.T, out string) {
	t.Helper()
	m := pairsLine.FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[2] != "72" {
		t.Errorf("want \"72/72 pairs OK\" in the demo's output, got %q:\n%s", m, out)
	}
	perNode := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		// NAME READY STATUS RESTARTS AGE IP NODE ...
		if len(f) >= 7 && strings.HasPrefix(f[0], "demo-") && f[2] == "Running" {
			perNode[f[6]]++
		}
	}
	if want := map[string]int{"h1": 3, "h2": 3, "h3": 3}; !maps.Equal(perNode, want) {
		t.Errorf("Running pods per node in kubectl get pods -o wide: %v, want %v:\n%s", perNode, want, out)
	}
	for _, want := range []string{"$ kubectl get pods -o wide", "$ kubectl get nodes -o wide", "Next:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("FAIL in the demo's output:\n%s", out)
	}
	t.Logf("%s; pods per node %v", m[0], perNode)
}

// checkGone wants no namespace of the demo's lab run left.
func checkGone(t *testing.T, out string) {
	t.Helper()
	m := labLine.FindStringSubmatch(out)
	if m == nil {
		t.Errorf("no lab run ID in the demo's output")
		return
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), m[1]+"-") {
			t.Errorf("namespace %s left after the demo", e.Name())
		}
	}
}
