package cluster

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestDaemonSet deploys vxbgp as users do: the image make image builds,
// imported into every node's containerd, and deploy/kubernetes applied
// with one lab overlay (the API server's address, see labOverlay). The
// DaemonSet's pods must run on every node, and pods on the two nodes then
// reach each other through vxbgp.
func TestDaemonSet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	c, bin := startCluster(ctx, t)
	root := filepath.Dir(filepath.Dir(filepath.Dir(mustGetwd(t)))) // internal/kubelab/cluster
	image, tar := buildImage(t, root, bin)
	for _, n := range c.Nodes {
		if err := n.Import(ctx, tar); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(c.CP.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"rbac.yaml", "configmap.yaml", "daemonset.yaml"} {
		if err := kubelab.ApplyFileEdit(ctx, c.Client, filepath.Join(root, "deploy/kubernetes", f),
			labOverlay(u.Hostname(), u.Port())); err != nil {
			t.Fatal(err)
		}
	}
	t1 := time.Now()
	ds := c.Client.AppsV1().DaemonSets("kube-system")
	if err := c.poll(ctx, 3*time.Minute, "DaemonSet vxbgp ready on every node", func() (bool, error) {
		d, err := ds.Get(ctx, "vxbgp", metav1.GetOptions{})
		return err == nil && d.Status.NumberReady == int32(len(c.Nodes)), nil
	}); err != nil {
		logAgents(ctx, t, c)
		t.Fatal(err)
	}
	t.Logf("TIMING DaemonSet %s ready on %d nodes: %s", image, len(c.Nodes), time.Since(t1).Round(time.Millisecond))
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	err = c.WaitNodes(wctx, true)
	wcancel()
	if err != nil {
		for _, n := range c.Nodes {
			b, _ := os.ReadFile(filepath.Join(n.NetDir, "10-vxbgp.conflist"))
			t.Logf("%s: %s", n.Name, b)
		}
		t.Fatalf("nodes not Ready once the agents wrote the conflist: %v", err)
	}
	t.Logf("TIMING Nodes Ready after the DaemonSet: %s", time.Since(t1).Round(time.Millisecond))
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

// labOverlay is where a lab node differs from a real one:
//   - no kube-proxy, so the kubernetes Service's ClusterIP (what in-cluster
//     clients dial) leads nowhere: the agent is told the API server's
//     address directly (env KUBERNETES_SERVICE_HOST/PORT, which client-go's
//     in-cluster config reads);
//   - Debian's reference plugins (containernetworking-plugins 1.1.1, the
//     portmap and bandwidth the conflist chains) speak CNI up to 1.0.0 and
//     refuse the shipped conflist's 1.1.0 ("incompatible CNI versions;
//     config is "1.1.0", plugin supports [... "1.0.0"]"): the lab's
//     conflist says 1.0.0.
func labOverlay(host, port string) func(runtime.Object) error {
	return func(obj runtime.Object) error {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			for k, v := range cm.Data {
				if strings.HasSuffix(k, ".conflist") {
					cm.Data[k] = strings.Replace(v, `"cniVersion": "1.1.0"`, `"cniVersion": "1.0.0"`, 1)
				}
			}
			return nil
		}
		d, ok := obj.(*appsv1.DaemonSet)
		if !ok {
			return nil
		}
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			c.Env = append(c.Env, corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: host},
				corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: port})
		}
		return nil
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
