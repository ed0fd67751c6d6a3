package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/ociimage"
)

// Node is one lab host running containerd and a kubelet.
type Node struct {
	Name    string // the Node's name: the host's (h1, ...)
	Host    *lab.Host
	Dir     string // <cluster dir>/<name>
	Sock    string // containerd's CRI socket
	NetDir  string // containerd's CNI conf dir
	State   string // containerd's state dir
	MountNS string // file keeping the node's mount namespace
	Cgroup  string // the kubelet's cgroupRoot, e.g. /kubelab-<run>-h1
	PodCIDR string // filled by WaitNodes

	ctrd, kubelet *proc
}

// prepareShared makes what all nodes share: the CNI bin dir (links to the
// reference plugins and vxbgp-cni) and the pause image tarball.
func (c *Cluster) prepareShared() error {
	c.CNIBin = filepath.Join(c.Dir, "cni-bin")
	if err := os.MkdirAll(c.CNIBin, 0o755); err != nil {
		return err
	}
	refs, _ := filepath.Glob("/usr/lib/cni/*")
	if len(refs) == 0 {
		return errors.New("no reference CNI plugins in /usr/lib/cni (apt-get install containernetworking-plugins)")
	}
	for _, p := range append(refs, filepath.Join(c.opts.VxbgpBin, lab.BinCNI)) {
		if err := os.Symlink(p, filepath.Join(c.CNIBin, filepath.Base(p))); err != nil {
			return err
		}
	}
	pause, err := os.ReadFile(c.opts.Pause)
	if err != nil {
		return fmt.Errorf("pause binary: %w", err)
	}
	f, err := os.Create(filepath.Join(c.Dir, "pause.tar"))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = ociimage.Write(f, ociimage.Image{Name: PauseImage, OS: "linux", Arch: "amd64",
		Entrypoint: []string{"/pause"}, Files: []ociimage.File{{Path: "/pause", Mode: 0o755, Data: pause}}})
	if err != nil {
		return err
	}
	return f.Close()
}

// startNode starts h's containerd, imports the pause image and starts its
// kubelet. The returned node (even with an error) is to be stopped.
func (c *Cluster) startNode(ctx context.Context, h *lab.Host) (*Node, error) {
	t0 := time.Now()
	d := filepath.Join(c.Dir, h.Name)
	n := &Node{Name: h.Name, Host: h, Dir: d, Sock: filepath.Join(d, "ctrd.sock"), NetDir: filepath.Join(d, "host/etc/cni/net.d"),
		State: filepath.Join(d, "ctrd-state"), Cgroup: "/kubelab-" + c.ID + "-" + h.Name}
	for _, sub := range []string{"ipam", "kubelet", "logs"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return nil, err
		}
	}
	if err := n.newMountNS(ctx); err != nil {
		return n, err
	}
	// The node's /opt/cni/bin starts with the reference plugins (containerd
	// runs loopback from there) and vxbgp-cni; an install-cni may replace it.
	links, _ := filepath.Glob(filepath.Join(c.CNIBin, "*"))
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			return n, err
		}
		if err := os.Symlink(target, filepath.Join(d, "host/opt/cni/bin", filepath.Base(l))); err != nil {
			return n, err
		}
	}
	// The kubelet wants a default route to pick and check its node IP.
	if _, err := lab.IP(ctx, h.NS, "route", "replace", "default", "via", CPAddr); err != nil {
		return nil, err
	}
	if err := makeCgroup(n.Cgroup); err != nil {
		return n, err
	}
	cfg := filepath.Join(d, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(containerdConfig(n)), 0o644); err != nil {
		return n, err
	}
	var err error
	if n.ctrd, err = spawn(h.NS, n.MountNS, filepath.Join(d, "containerd.log"), "containerd", "--config", cfg); err != nil {
		return n, err
	}
	if err := waitCmd(ctx, 30*time.Second, "ctr", "-a", n.Sock, "version"); err != nil {
		return n, fmt.Errorf("containerd on %s: %w\n%s", h.Name, err, tailFile(filepath.Join(d, "containerd.log")))
	}
	for _, tar := range append([]string{filepath.Join(c.Dir, "pause.tar")}, c.images...) {
		if err := n.Import(ctx, tar); err != nil {
			return n, err
		}
	}
	// A serving certificate of the cluster CA for the node's address: the
	// API server verifies it when it proxies exec and logs to the kubelet.
	cert, key, err := c.CP.PKI.Issue(filepath.Join(d, "kubelet-pki"), "kubelet", kubelab.CertRequest{
		CommonName: "system:node:" + h.Name, Groups: []string{"system:nodes"},
		IPs: []net.IP{net.ParseIP(h.Addr)}, DNSNames: []string{h.Name}, Server: true})
	if err != nil {
		return n, err
	}
	kcfg := filepath.Join(d, "kubelet.yaml")
	if err := os.WriteFile(kcfg, []byte(kubeletConfig(n, c.CP.PKI.CACert, cert, key)), 0o644); err != nil {
		return n, err
	}
	n.kubelet, err = spawn(h.NS, n.MountNS, filepath.Join(d, "kubelet.log"), filepath.Join(c.opts.K8sBin, kubelab.Kubelet),
		"--kubeconfig="+c.Kubeconfig, "--config="+kcfg, "--root-dir="+filepath.Join(d, "kubelet"),
		"--cert-dir="+filepath.Join(d, "kubelet-pki"), "--hostname-override="+h.Name, "--node-ip="+h.Addr, "--v=1")
	c.logf("kubelab: node %s: containerd up and pause image imported, kubelet started in %s", h.Name,
		time.Since(t0).Round(time.Millisecond))
	return n, err
}

// stop stops the kubelet, kills every process in the node's cgroups (the
// pods), stops containerd and removes the cgroups.
func (n *Node) stop(ctx context.Context) error {
	var errs []error
	if n.kubelet != nil {
		errs = append(errs, n.kubelet.stop(10*time.Second))
		n.kubelet = nil // stop again (Cluster.Stop after RemoveNode) signals no stale group
	}
	errs = append(errs, killCgroup(ctx, n.Cgroup))
	if n.ctrd != nil {
		// containerd's CNI library keeps results in the shared
		// /var/lib/cni/results, named <network>-<container ID>-<ifname>.
		ids, _ := n.ctr(ctx, "containers", "ls", "-q")
		errs = append(errs, n.ctrd.stop(10*time.Second))
		n.ctrd = nil
		for _, id := range ids {
			files, _ := filepath.Glob("/var/lib/cni/results/*-" + id + "-*")
			for _, f := range files {
				errs = append(errs, os.Remove(f))
			}
		}
	}
	errs = append(errs, removeCgroup(n.Cgroup))
	return errors.Join(errs...)
}

// PIDs are the node's daemons by name ("containerd", "kubelet"): for
// measuring them (CPU, memory) or pausing the kubelet while a test acts as
// it on the CRI. A daemon not started is missing.
func (n *Node) PIDs() map[string]int {
	out := map[string]int{}
	for name, p := range map[string]*proc{"containerd": n.ctrd, "kubelet": n.kubelet} {
		if p != nil && p.cmd.Process != nil {
			out[name] = p.cmd.Process.Pid
		}
	}
	return out
}

// ctr runs ctr against the node's containerd in the k8s.io namespace and
// returns the lines it printed.
func (n *Node) ctr(ctx context.Context, args ...string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"-a", n.Sock, "-n", "k8s.io"}, args...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("ctr %v on %s: %w", args, n.Name, err)
	}
	return strings.Fields(string(out)), nil
}

// Import imports an OCI image tarball (its io.containerd.image.name is the
// image's name) into the node's containerd, for the kubelet: no registry.
func (n *Node) Import(ctx context.Context, tar string) error {
	if out, err := exec.CommandContext(ctx, "ctr", "-a", n.Sock, "-n", "k8s.io", "images", "import",
		tar).CombinedOutput(); err != nil {
		return fmt.Errorf("import %s on %s: %w: %s", filepath.Base(tar), n.Name, err, out)
	}
	return nil
}

// Log returns the tail of one of the node's logs ("kubelet", "containerd").
func (n *Node) Log(name string) string { return tailFile(filepath.Join(n.Dir, name+".log")) }

// containerdConfig: per-node paths everywhere; the CNI dirs are the usual
// ones, which the node's mount namespace makes its own.
func containerdConfig(n *Node) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = "%[3]s.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  netns_mounts_under_state_dir = true
  # root here lacks CAP_SYS_RESOURCE: without this the sandbox fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[8]q
`, filepath.Join(n.Dir, "ctrd-root"), n.State, n.Sock, filepath.Join(n.Dir, "ctrd-opt"), PauseImage,
		"/opt/cni/bin", "/etc/cni/net.d", filepath.Join(n.Dir, "runc"))
}

// kubeletConfig is the recipe's kubelet config (cgroup v1, cgroupfs, no
// swap check) with this node's socket, cgroup root and pod log dir. Its
// API (exec, logs) is kubeadm's: clients authenticate with a certificate
// of the cluster CA (the API server's kubelet client) or a token, and the
// API server authorizes them (webhook); no anonymous access.
func kubeletConfig(n *Node, ca, cert, key string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: %s
failSwapOn: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization: {mode: Webhook}
tlsCertFile: %s
tlsPrivateKeyFile: %s
readOnlyPort: 0
oomScoreAdj: 0
protectKernelDefaults: false
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%%", "imagefs.available": "1%%"}
`, n.Cgroup, n.Sock, filepath.Join(n.Dir, "logs"), ca, cert, key)
}

// waitCmd runs argv until it succeeds or timeout passes.
func waitCmd(ctx context.Context, timeout time.Duration, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v: %w: %s", argv, err, bytes.TrimSpace(out))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
