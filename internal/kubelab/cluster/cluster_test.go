package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// TestCluster brings up a control plane and two nodes, runs a pod on each
// node with the reference bridge CNI, then switches the nodes to vxbgp
// (vxbgpd per host in Kubernetes mode) and has pods on the two nodes ping
// each other.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	c, _ := startCluster(ctx, t)

	// Bridge first: the kubelet, containerd and CNI work.
	if err := c.UseBridge(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodes(ctx, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING test start (vxbgp binaries built, cluster started) to both Nodes Ready (bridge CNI): %s", time.Since(t0).Round(time.Millisecond))
	for _, n := range c.Nodes {
		t.Logf("node %s podCIDR %s", n.Name, n.PodCIDR)
		t1 := time.Now()
		ip, err := c.RunPod(ctx, "bridge-"+n.Name, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pod bridge-%s on %s: %s (running in %s)", n.Name, n.Name, ip, time.Since(t1).Round(time.Millisecond))
	}
	if err := c.DeletePods(ctx); err != nil {
		t.Fatal(err)
	}

	// Then vxbgp: agents from the Nodes, pods on both nodes reach each other.
	t1 := time.Now()
	if err := c.UseVxbgp(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING vxbgpd up on every node: %s", time.Since(t1).Round(time.Millisecond))
	pingAcross(ctx, t, c, "vx-")
	t.Logf("TIMING whole test before teardown: %s", time.Since(t0).Round(time.Millisecond))
}

// startCluster checks the prerequisites (failing under CI=true, skipping
// loudly elsewhere), builds what is needed and starts a 2-node cluster
// stopped when the test ends; it returns the vxbgp binaries' directory.
func startCluster(ctx context.Context, t *testing.T) (*Cluster, string) {
	t.Helper()
	return startClusterN(ctx, t, 2)
}

// startClusterN is startCluster with the given number of nodes.
func startClusterN(ctx context.Context, t *testing.T, nodes int) (*Cluster, string) {
	t.Helper()
	return startClusterWith(ctx, t, Options{Nodes: nodes})
}

// startClusterWith is startCluster with the test's Options (the
// binaries, the pause image and the log are filled in).
func startClusterWith(ctx context.Context, t *testing.T, o Options) (*Cluster, string) {
	t.Helper()
	nstest.Require(t)
	for _, tool := range []string{"containerd", "ctr", "runc", "nsenter", "unshare", "etcd"} {
		nstest.RequireTool(t, tool)
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		nstest.RequireTool(t, "/usr/lib/cni/bridge") // fails under CI, skips loudly elsewhere
	}
	o.K8sBin = kubelab.Require(t, kubelab.APIServer, kubelab.ControllerManager, kubelab.Scheduler, kubelab.Kubelet)
	bin := buildBinaries(t)
	o.VxbgpBin, o.Pause, o.Logf = bin, filepath.Join(bin, "kubelab-pause"), t.Logf
	c, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			if d := os.Getenv("KUBELAB_SAVE"); d != "" {
				_ = exec.Command("cp", "-a", c.Dir, d).Run()
			}
			for _, n := range c.Nodes {
				t.Logf("%s kubelet log (tail):\n%s", n.Name, n.Log("kubelet"))
				t.Logf("%s containerd log (tail):\n%s", n.Name, n.Log("containerd"))
			}
			if c.Lab != nil {
				t.Logf("vxbgpd logs (tail):\n%s", c.Lab.LogTail(30))
			}
		}
		t0 := time.Now()
		if err := c.Stop(sctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
		t.Logf("TIMING cluster stop: %s", time.Since(t0).Round(time.Millisecond))
	})
	return c, bin
}

// pingAcross runs a pod on each node (through the scheduler) and has
// every pod ping every other one.
func pingAcross(ctx context.Context, t *testing.T, c *Cluster, prefix string) {
	t.Helper()
	var eps []lab.Endpoint
	for _, n := range c.Nodes {
		name := prefix + n.Name
		ip, err := c.RunPod(ctx, name, n)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := c.PodNetns(ctx, n, ip, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pod %s on %s: %s (netns %s)", name, n.Name, ip, ns)
		eps = append(eps, endpoint{name, ns, ip})
	}
	t.Logf("ping matrix:\n%s", waitMatrix(ctx, t, c, "pods on every node to reach each other", eps))
}

// waitMatrix pings every pair of eps until all answer (a minute at most,
// then the test fails with the last matrix) and returns that matrix.
func waitMatrix(ctx context.Context, t *testing.T, c *Cluster, what string, eps []lab.Endpoint) *lab.Matrix {
	t.Helper()
	var m *lab.Matrix
	if err := c.poll(ctx, time.Minute, what, func() (bool, error) {
		m = lab.PingMatrix(ctx, eps)
		return len(m.Failed()) == 0, nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, m)
	}
	return m
}

// endpoint is a pod as lab.PingMatrix sees it.
type endpoint struct{ name, ns, ip string }

func (e endpoint) Label() string { return e.name }
func (e endpoint) Netns() string { return e.ns }
func (e endpoint) Addr() string  { return e.ip }

// buildBinaries builds vxbgpd, vxbgpctl, vxbgp-cni, kubelab-pause and
// kubelab-pod (static) from this tree into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for pkg, name := range map[string]string{
		"./cmd/" + lab.BinAgent: lab.BinAgent, "./cmd/" + lab.BinCtl: lab.BinCtl, "./cmd/" + lab.BinCNI: lab.BinCNI,
		"./internal/kubelab/cmd/kubelab-pause": "kubelab-pause",
		"./internal/kubelab/cmd/kubelab-pod":   "kubelab-pod",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v: %s", name, err, out)
		}
	}
	return dir
}
