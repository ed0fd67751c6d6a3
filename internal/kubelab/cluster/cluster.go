// Package cluster runs a real Kubernetes cluster in the lab: a control
// plane (etcd, kube-apiserver, kube-controller-manager assigning podCIDRs,
// kube-scheduler) in a namespace of its own on the lab's underlay, and N
// lab hosts (internal/lab), each running its own containerd (CRI) and
// kubelet registered as a Node named after the host (h1, h2, ...).
//
// Each node's containerd and kubelet run in a mount namespace of the node
// (kept in <node dir>/mnt) where a directory of the node is bound over
// each of HostPaths (/opt/cni/bin, /etc/cni/net.d, /var/lib/vxbgp,
// /run/vxbgp): what a DaemonSet's hostPath volumes reach there differs per
// node, as on real machines. Everything else is given to each daemon
// explicitly: containerd's root, state, sockets, opt dir and runc root
// from its config; the kubelet's root, cert and pod-log dirs and its
// cgroup root (/kubelab-<run>-hN, so two kubelets never clean up each
// other's pods) from flags and its config. Missing HostPaths are created
// on the machine as empty mount points and removed by Stop. What still
// lands in shared host paths (names unique per container): containerd's
// shim sockets in /run/containerd/s, CNI results in /var/lib/cni/results
// (Stop removes those of its containers).
//
// Which CNI the nodes use is the test's choice: UseBridge writes the
// reference bridge + host-local conflist per node (from its podCIDR),
// UseVxbgp starts vxbgpd on every host (kubernetes.enabled, its block from
// the Node) and writes the vxbgp-cni conflist; DeployVxbgp deploys it as
// users do instead (make image's image, deploy/kubernetes, LabOverlay).
//
// Workloads and membership: CreateDeployment runs kubelab-pod (PodImage,
// imported with ImportAll) spread by the scheduler, WaitDeployment lists
// its pods, Exec runs a command in a pod by kubectl exec's path (the API
// server, the kubelet's streaming server with certificates of the
// cluster CA, containerd) and ExecPingMatrix pings every pair through it.
// AddNode adds a lab host as a node; DrainNode and RemoveNode retire one.
//
// Stop removes everything: kubelets, pods (by killing what is in the
// nodes' cgroups), containerd and its shims, mounts under the work dir,
// cgroups, the control plane, the lab's namespaces and the work dir.
package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// Fixed numbers of a cluster lab; they exist only inside its namespaces.
const (
	// ClusterCIDR is kube-controller-manager's --cluster-cidr: the lab's
	// pod subnet, cut into /24 podCIDRs.
	ClusterCIDR = lab.PodSubnet
	// CPAddr is the control plane's address on the underlay.
	CPAddr = "10.250.0.250"
	// PauseImage is the sandbox image: the kubelet's default, packed here
	// from kubelab-pause and imported into every node.
	PauseImage = "registry.k8s.io/pause:3.10"
)

// Options describe a cluster.
type Options struct {
	Nodes    int    // lab hosts h1..hN, each a Node
	K8sBin   string // kubelab.Build's directory: apiserver, controller-manager, scheduler, kubelet
	VxbgpBin string // vxbgpd, vxbgpctl, vxbgp-cni (lab.Options.BinDir)
	Pause    string // a static pause binary (internal/kubelab/cmd/kubelab-pause)
	Logf     func(format string, args ...any)

	// ClusterCIDR is kube-controller-manager's --cluster-cidr; default
	// ClusterCIDR. A narrower one leaves room in the pod network for
	// hosts outside the cluster (blocks of bare-metal agents).
	ClusterCIDR string
}

// Cluster is a running cluster lab.
type Cluster struct {
	ID         string // unique per run: names cgroups, netns links
	Dir        string // work directory, removed by Stop
	Lab        *lab.Lab
	CP         *kubelab.ControlPlane
	Client     kubernetes.Interface // admin
	Kubeconfig string               // admin kubeconfig (kubelets, vxbgpd)
	Nodes      []*Node
	CNIBin     string // containerd's CNI bin dir: reference plugins + vxbgp-cni

	opts  Options
	logf  func(format string, args ...any)
	links []string // /run/netns names made by PodNetns
	// images are the tarballs ImportAll imported: AddNode's node gets
	// them too, before its kubelet starts.
	images []string
	// removed are the nodes RemoveNode took out: Stop stops them again
	// in case that failed half-way.
	removed []*Node
	// dirMounted: Dir is a private bind mount of itself; madeDirs: the
	// HostPaths mount points Start created on this machine.
	dirMounted bool
	madeDirs   []string
}

// Start brings up the lab hosts, the control plane and every node's
// containerd and kubelet, and waits until each Node is registered with a
// podCIDR. Nodes become Ready once a CNI is chosen (UseBridge, UseVxbgp).
// On error everything started is removed.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	t0 := time.Now()
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "kubelab-")
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(dir, 0o755)
	c := &Cluster{ID: strings.TrimPrefix(filepath.Base(dir), "kubelab-"), Dir: dir, opts: o, logf: o.Logf}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			err = errors.Join(err, c.Stop(cctx))
		}
	}()
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	c.dirMounted = true
	if c.madeDirs, err = mountPoints(); err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	c.Lab, err = lab.New(ctx, lab.Options{Hosts: o.Nodes, BinDir: o.VxbgpBin, NoStart: true, Logf: o.Logf,
		Configure: func(_ *lab.Host, hc *lab.HostConfig) {
			// One config for every node, as the DaemonSet's: the block
			// and the peers come from the Node objects.
			hc.BGP.Peers = nil
			hc.Networks[0].Block = ""
			hc.Kubernetes = &lab.KubernetesConfig{Enabled: true, Kubeconfig: c.Kubeconfig}
		}})
	if err != nil {
		return nil, err
	}
	cpNS, err := c.Lab.AddUnderlayNS(ctx, "cp", "cp", CPAddr)
	if err != nil {
		return nil, err
	}
	if err := c.startControlPlane(ctx, cpNS); err != nil {
		return nil, err
	}
	if err := c.prepareShared(); err != nil {
		return nil, err
	}
	for _, h := range c.Lab.Hosts {
		n, err := c.startNode(ctx, h)
		if n != nil {
			c.Nodes = append(c.Nodes, n)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := c.WaitNodes(ctx, false); err != nil {
		return nil, err
	}
	c.logf("TIMING cluster start (control plane + %d nodes registered with podCIDRs): %s",
		len(c.Nodes), time.Since(t0).Round(time.Millisecond))
	return c, nil
}

// startControlPlane starts etcd and the API server in namespace ns at
// CPAddr, then the controller-manager and the scheduler beside them.
func (c *Cluster) startControlPlane(ctx context.Context, ns string) (err error) {
	cidr := c.opts.ClusterCIDR
	if cidr == "" {
		cidr = ClusterCIDR
	}
	c.CP, err = kubelab.Start(ctx, kubelab.Options{Bin: c.opts.K8sBin, Dir: filepath.Join(c.Dir, "cp"),
		Address: CPAddr, Netns: ns, Logf: c.logf})
	if err != nil {
		return err
	}
	if c.Client, err = c.CP.Client(); err != nil {
		return err
	}
	if err := c.CP.WriteKubeconfig(c.Kubeconfig, kubelab.Admin); err != nil {
		return err
	}
	if err := c.CP.SpawnControllerManager(c.opts.K8sBin, "--allocate-node-cidrs=true",
		"--cluster-cidr="+cidr, "--node-cidr-mask-size=24", "--service-cluster-ip-range=10.96.0.0/12"); err != nil {
		return err
	}
	_, err = c.CP.Spawn("scheduler", filepath.Join(c.opts.K8sBin, kubelab.Scheduler),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0")
	return err
}

// Stop removes everything the cluster started, even after a failed Start;
// it is safe to call more than once.
func (c *Cluster) Stop(ctx context.Context) error {
	var errs []error
	for _, name := range c.links {
		if err := os.Remove(filepath.Join("/run/netns", name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	c.links = nil
	if c.Client != nil && len(c.Nodes) > 0 {
		// Through the kubelets first, so every CNI DEL runs (vxbgp frees
		// the addresses); what does not go in time is killed below.
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := c.DeletePods(dctx); err != nil {
			c.logf("kubelab: deleting pods before stop: %v (killing them)", err)
		}
		cancel()
	}
	for _, n := range append(c.removed, c.Nodes...) {
		errs = append(errs, n.stop(ctx))
	}
	c.Nodes, c.removed = nil, nil
	errs = append(errs, killUnder(c.Dir), unmountUnder(c.Dir))
	if c.CP != nil {
		c.CP.Stop()
		c.CP = nil
	}
	if c.Lab != nil {
		errs = append(errs, c.Lab.Close(ctx))
		c.Lab = nil
	}
	if c.dirMounted {
		errs = append(errs, syscall.Unmount(c.Dir, syscall.MNT_DETACH))
		c.dirMounted = false
	}
	errs = append(errs, removeMountPoints(c.madeDirs))
	c.madeDirs = nil
	if c.Dir != "" {
		errs = append(errs, os.RemoveAll(c.Dir))
		c.Dir = ""
	}
	return errors.Join(errs...)
}
