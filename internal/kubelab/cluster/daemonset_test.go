package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestDaemonSet deploys vxbgp as users do: the image make image builds,
// imported into every node's containerd, and deploy/kubernetes applied
// through the lab overlay (LabOverlay: the API server's address, the
// conflist's CNI version). The DaemonSet's pods must run on every node,
// and pods on the two nodes then reach each other through vxbgp.
func TestDaemonSet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	c, bin := startCluster(ctx, t)
	root := filepath.Dir(filepath.Dir(filepath.Dir(mustGetwd(t)))) // internal/kubelab/cluster
	image, tar := buildImage(t, root, bin)
	t1 := time.Now()
	if err := c.DeployVxbgp(ctx, filepath.Join(root, "deploy/kubernetes"), tar, nil); err != nil {
		logAgents(ctx, t, c)
		for _, n := range c.Nodes {
			b, _ := os.ReadFile(filepath.Join(n.NetDir, "10-vxbgp.conflist"))
			t.Logf("%s conflist: %s", n.Name, b)
		}
		t.Fatal(err)
	}
	t.Logf("TIMING DaemonSet %s ready and Nodes Ready on %d nodes: %s", image, len(c.Nodes), time.Since(t1).Round(time.Millisecond))
	checkDeployed(ctx, t, c)
	pingAcross(ctx, t, c, "ds-")
	t.Logf("TIMING whole test before teardown: %s", time.Since(t0).Round(time.Millisecond))
}

// checkDeployed checks what the DaemonSet did on each node, seen from the
// node's own paths: the init container replaced the pre-linked vxbgp-cni
// with a copy of the image's (install-cni renames a regular file over the
// link), and the agent, asked over its socket in the node's /run/vxbgp,
// peers with every other node, each peer taken from its Node object.
func checkDeployed(ctx context.Context, t *testing.T, c *Cluster) {
	t.Helper()
	for _, n := range c.Nodes {
		bin := filepath.Join(n.Dir, "host/opt/cni/bin", lab.BinCNI)
		if fi, err := os.Lstat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %s is %v, %v: want the regular file install-cni copies (mode 0755)", n.Name, bin, fi, err)
		}
		api := localapi.NewClient(filepath.Join(n.Dir, "host/run/vxbgp/vxbgp.sock"))
		var peers []localapi.Peer
		err := c.poll(ctx, time.Minute, n.Name+"'s agent peered with every other node", func() (bool, error) {
			ps, err := api.Peers(ctx)
			if err != nil {
				return false, nil
			}
			peers = ps
			up := 0
			for _, p := range ps {
				if p.Source == "kubernetes" && p.State == "established" {
					up++
				}
			}
			return up == len(c.Nodes)-1 && len(ps) == up, nil
		})
		if err != nil {
			t.Errorf("%s: %v: peers %+v", n.Name, err, peers)
		}
	}
}

// buildImage builds make image's image from the binaries in bin (static)
// under the name deploy/kubernetes/daemonset.yaml runs, and returns the
// name and the tarball.
func buildImage(t *testing.T, root, bin string) (string, string) {
	t.Helper()
	ds, err := os.ReadFile(filepath.Join(root, "deploy/kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*image:\s*(\S+)`).FindSubmatch(ds)
	if m == nil {
		t.Fatal("no image in daemonset.yaml")
	}
	image := string(m[1])
	tar := filepath.Join(bin, "vxbgp-image.tar")
	for _, argv := range [][]string{
		{"go", "build", "-o", bin, "./deploy/cmd/vxbgp-image"},
		{filepath.Join(bin, "vxbgp-image"), "-name", image, "-bin", bin, "-conflist", "deploy/cni/10-vxbgp.conflist", "-o", tar},
	} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	return image, tar
}

// logAgents logs the DaemonSet pods' states and their containers' logs
// (the kubelets write them under each node's podLogsDir).
func logAgents(ctx context.Context, t *testing.T, c *Cluster) {
	pods, err := c.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, p := range pods.Items {
			t.Logf("pod %s on %s: %s %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.ContainerStatuses)
		}
	}
	for _, n := range c.Nodes {
		logs, _ := filepath.Glob(filepath.Join(n.Dir, "logs", "*", "*", "*.log"))
		for _, l := range logs {
			t.Logf("%s %s:\n%s", n.Name, strings.TrimPrefix(l, n.Dir), tailFile(l))
		}
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}
