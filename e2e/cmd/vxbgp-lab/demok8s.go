package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/kubelab/cluster"
	"github.com/vxbgp/vxbgp/internal/lab"
)

type k8sFlags struct {
	nodes, pods     int
	keep            bool
	bin, manifests  string
	keeper          bool  // this process holds a kept cluster (keep.go)
	startUnixMillis int64 // the front process's start, for the keeper's timestamps
}

// k8sCmds are the Kubernetes binaries the demo runs; kubectl is for the
// operator, and prints the pods.
var k8sCmds = []string{kubelab.APIServer, kubelab.ControllerManager, kubelab.Scheduler, kubelab.Kubelet, "kubectl"}

// demoK8s builds what it lacks (the Kubernetes binaries, with progress),
// brings up a cluster of lab hosts (containerd + kubelet each), deploys
// vxbgp by its manifests (make image's image, deploy/kubernetes), runs a
// Deployment of pods spread over the nodes by the scheduler, and prints
// the ping matrix between its pods and kubectl's view. It removes the
// cluster unless -keep (KEEP=1); a kept cluster lives on in a process of
// its own (keep.go) until make demo-k8s-clean.
func demoK8s(ctx context.Context, args []string) int {
	var f k8sFlags
	fs := flag.NewFlagSet("demo-k8s", flag.ExitOnError)
	fs.IntVar(&f.nodes, "nodes", 3, "Kubernetes nodes (lab hosts with containerd and a kubelet)")
	fs.IntVar(&f.pods, "pods", 3, "pods per node (the Deployment has nodes x pods replicas)")
	fs.BoolVar(&f.keep, "keep", os.Getenv("KEEP") == "1", "leave the cluster running (also KEEP=1); make demo-k8s-clean removes it")
	fs.StringVar(&f.bin, "bin", "bin", "directory with vxbgpd, vxbgpctl, vxbgp-cni, kubelab-pause and vxbgp-image.tar (make image)")
	fs.StringVar(&f.manifests, "manifests", "deploy/kubernetes", "the manifests to apply")
	fs.BoolVar(&f.keeper, "keeper", false, "internal: run as the process holding a kept cluster")
	fs.Int64Var(&f.startUnixMillis, "start", 0, "internal: the demo's start time (unix ms)")
	_ = fs.Parse(args)
	if f.nodes < 2 || f.pods < 1 {
		fmt.Fprintln(os.Stderr, "demo-k8s: need -nodes >= 2 and -pods >= 1")
		return 2
	}
	var err error
	if f.bin, err = filepath.Abs(f.bin); err == nil {
		f.manifests, err = filepath.Abs(f.manifests)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: %v\n", err)
		return 2
	}
	start := time.Now()
	if f.startUnixMillis != 0 {
		start = time.UnixMilli(f.startUnixMillis)
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%7.2fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
	}
	if f.keeper {
		// The status pipe (keep.go) must not leak into the daemons the
		// keeper starts: the front process waits for its end.
		syscall.CloseOnExec(3)
	}
	if !f.keeper && !preflightK8s(os.Stderr, f) {
		return 1
	}
	k8s, err := buildK8s(ctx, logf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: %v\n", err)
		return 1
	}
	if f.keep && !f.keeper {
		return detach(ctx, args, start)
	}
	c, ok := runK8sDemo(ctx, f, k8s, logf)
	if c == nil {
		return 1
	}
	if f.keep {
		return keep(ctx, c, f, k8s, ok, logf)
	}
	printK8sNext(os.Stdout, nil, f, k8s)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := stopK8sDemo(cctx, c); err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: cleanup: %v\n", err)
		ok = false
	} else {
		logf("cluster removed in %v (pods, kubelets, containerd, control plane, namespaces, work dir)", time.Since(t0).Round(time.Millisecond))
	}
	fmt.Printf("wall time: %v\n", time.Since(start).Round(time.Millisecond))
	if !ok {
		return 1
	}
	return 0
}

// stopK8sDemo removes the Deployment first (else its controller would
// replace the pods Stop deletes), then everything else.
func stopK8sDemo(ctx context.Context, c *cluster.Cluster) error {
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := c.DeleteSpread(dctx, "demo")
	cancel()
	return errors.Join(err, c.Stop(ctx))
}

// buildK8s returns the directory of the Kubernetes binaries, building the
// missing ones from the Go module proxy (minutes, once) and saying so
// every 30 s meanwhile.
func buildK8s(ctx context.Context, logf func(string, ...any)) (string, error) {
	dir := filepath.Join(kubelab.CacheDir(kubelab.Version), "bin")
	var missing []string
	for _, c := range k8sCmds {
		if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		logf("Kubernetes %s binaries: cached in %s", kubelab.Version, dir)
		return dir, nil
	}
	logf("Kubernetes %s: building %s from the Go module proxy into %s, once (about 8-15 min on 2 cores when nothing is cached; a minute or two when Go's build cache is warm)",
		kubelab.Version, strings.Join(missing, ", "), dir)
	t0 := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(30 * time.Second):
				logf("  still building %s: %v so far", strings.Join(missing, ", "), time.Since(t0).Round(time.Second))
			}
		}
	}()
	return kubelab.Build(ctx, kubelab.Version, logf, k8sCmds...)
}

// runK8sDemo is the demo between the build and the cleanup. It returns
// the cluster (nil if it could not start: nothing is left then) and
// whether every step and every pair passed.
func runK8sDemo(ctx context.Context, f k8sFlags, k8s string, logf func(string, ...any)) (*cluster.Cluster, bool) {
	rctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	logf("starting a cluster: a control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and %d nodes, each a network namespace with its own containerd and kubelet", f.nodes)
	c, err := cluster.Start(rctx, cluster.Options{Nodes: f.nodes, K8sBin: k8s, VxbgpBin: f.bin,
		Pause: filepath.Join(f.bin, "kubelab-pause"), Logf: logf})
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-k8s: %v\n", err)
		return nil, false
	}
	fail := func(err error) (*cluster.Cluster, bool) {
		fmt.Fprintf(os.Stderr, "demo-k8s: %v\n", err)
		if !errors.Is(err, context.Canceled) {
			for _, n := range c.Nodes {
				fmt.Fprintf(os.Stderr, "%s kubelet log (tail):\n%s\n", n.Name, n.Log("kubelet"))
			}
		}
		return c, false
	}
	logf("deploying vxbgp as README's Install/Kubernetes says: %s imported into every node's containerd, then %s applied",
		filepath.Join(f.bin, "vxbgp-image.tar"), f.manifests)
	if err := c.Deploy(rctx, cluster.DeployOptions{Manifests: f.manifests, ImageTar: filepath.Join(f.bin, "vxbgp-image.tar")}); err != nil {
		return fail(err)
	}
	logf("creating Deployment demo: %d pods, spread over the nodes by the scheduler", f.nodes*f.pods)
	pods, err := c.RunSpread(rctx, "demo", f.pods)
	if err != nil {
		return fail(err)
	}
	logf("%d pods running; pinging every ordered pair from inside each pod's network namespace", len(pods))
	eps, err := podEndpoints(rctx, c, pods)
	if err != nil {
		return fail(err)
	}
	// The pods are Running once attached; their routes reach the other
	// agents a moment later: a few tries.
	var m *lab.Matrix
	for deadline := time.Now().Add(30 * time.Second); ; {
		m = lab.PingMatrix(rctx, eps)
		if len(m.Failed()) == 0 || time.Now().After(deadline) || rctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("\nping matrix (%d nodes x %d pods of Deployment demo, rows ping columns; NODE/pod name suffix):\n%s",
		f.nodes, f.pods, m)
	kubectl := func(args ...string) {
		fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
		out, err := exec.CommandContext(rctx, "nsenter", append([]string{"--net=/run/netns/" + c.CPNetns(),
			filepath.Join(k8s, "kubectl"), "--kubeconfig", c.Kubeconfig, "--cache-dir", filepath.Join(c.Dir, "kubectl-cache")},
			args...)...).CombinedOutput()
		os.Stdout.Write(out)
		if err != nil {
			fmt.Printf("(kubectl: %v)\n", err)
		}
	}
	kubectl("get", "nodes", "-o", "wide")
	kubectl("-n", "kube-system", "get", "daemonset", "vxbgp")
	kubectl("get", "pods", "-o", "wide")
	if failed := m.Failed(); len(failed) > 0 {
		fmt.Printf("FAILED pairs: %v\n", failed)
		return c, false
	}
	return c, true
}

// podEndpoints links each pod's network namespace (found by its address
// among its node's containers) for the pings, labelled NODE/suffix.
func podEndpoints(ctx context.Context, c *cluster.Cluster, pods []corev1.Pod) ([]lab.Endpoint, error) {
	var eps []lab.Endpoint
	for _, p := range pods {
		n := c.NodeByName(p.Spec.NodeName)
		if n == nil {
			return nil, fmt.Errorf("pod %s on unknown node %q", p.Name, p.Spec.NodeName)
		}
		suffix := p.Name[strings.LastIndex(p.Name, "-")+1:]
		ns, err := c.PodNetns(ctx, n, p.Status.PodIP, "demo-"+suffix)
		if err != nil {
			return nil, err
		}
		eps = append(eps, podEndpoint{label: n.Name + "/" + suffix, ns: ns, ip: p.Status.PodIP})
	}
	return eps, nil
}

type podEndpoint struct{ label, ns, ip string }

func (e podEndpoint) Label() string { return e.label }
func (e podEndpoint) Netns() string { return e.ns }
func (e podEndpoint) Addr() string  { return e.ip }

// k8sTools are what a node runs besides the Go binaries.
var k8sTools = []lab.Tool{{Name: "containerd", Package: "containerd"}, {Name: "ctr", Package: "containerd"},
	{Name: "runc", Package: "runc"}, {Name: "etcd", Package: "etcd-server"},
	{Name: "nsenter", Package: "util-linux"}, {Name: "unshare", Package: "util-linux"}}

// preflightK8s checks, before anything is built or created, what the
// demo needs from the host, naming each missing piece and how to get it.
func preflightK8s(w io.Writer, f k8sFlags) bool {
	ok := true
	say := func(format string, a ...any) {
		fmt.Fprintf(w, "demo-k8s: "+format+"\n", a...)
		ok = false
	}
	if os.Geteuid() != 0 {
		say("needs root: it creates network and mount namespaces, cgroups, and runs containerd and kubelets (run as root, e.g. sudo -E make demo-k8s)")
	}
	for _, t := range lab.MissingTools(append(lab.CoreTools(), k8sTools...)) {
		say("needs `%s`, which is not on $PATH: install the %s package (Debian/Ubuntu: apt-get install %s)", t.Name, t.Package, t.Package)
	}
	for _, p := range []string{"loopback", "portmap", "bandwidth"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			say("needs the reference CNI plugin /usr/lib/cni/%s (containerd runs loopback, the conflist chains portmap and bandwidth): apt-get install containernetworking-plugins", p)
			break
		}
	}
	for _, b := range []string{lab.BinAgent, lab.BinCtl, lab.BinCNI, "kubelab-pause", "vxbgp-image.tar"} {
		if _, err := os.Stat(filepath.Join(f.bin, b)); err != nil {
			say("needs %s: %v (make demo-k8s builds it)", filepath.Join(f.bin, b), err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.manifests, "daemonset.yaml")); err != nil {
		say("needs the manifests: %v (run it from the checkout, or pass -manifests)", err)
	}
	dir := filepath.Join(kubelab.CacheDir(kubelab.Version), "bin")
	for _, c := range k8sCmds {
		if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
			if _, err := exec.LookPath("go"); err != nil {
				say("needs `go` (1.26 or later) on $PATH to build the Kubernetes binaries once (%s is not in %s yet)", c, dir)
			}
			break
		}
	}
	return ok
}

// printK8sNext says where to go from here: with the cluster kept (c not
// nil), how to reach it and remove it; without, how to keep it.
func printK8sNext(w io.Writer, c *cluster.Cluster, f k8sFlags, k8s string) {
	fmt.Fprintln(w, "\nNext:")
	if c == nil {
		fmt.Fprintln(w, "  KEEP=1 make demo-k8s   the same, but the cluster stays up; it then prints its kubeconfig and the kubectl and vxbgpctl commands for it")
		fmt.Fprintln(w, "  make demo              the bare-metal lab: 3 hosts, no Kubernetes")
		return
	}
	kubectl := fmt.Sprintf("ip netns exec %s %s --kubeconfig %s", c.CPNetns(), filepath.Join(k8s, "kubectl"), c.Kubeconfig)
	fmt.Fprintf(w, "  cluster %s is still up, held by process %d; work dir %s (each node's kubelet.log, containerd.log)\n",
		c.ID, os.Getpid(), c.Dir)
	fmt.Fprintf(w, "  kubeconfig: %s (the API server, %s, is reachable inside namespace %s)\n", c.Kubeconfig, c.CP.URL, c.CPNetns())
	fmt.Fprintf(w, "    %s get pods -o wide\n", kubectl)
	fmt.Fprintf(w, "    %s -n kube-system logs ds/vxbgp -c vxbgpd\n", kubectl)
	fmt.Fprintf(w, "  an agent, over its socket in the node's /run/vxbgp:\n")
	fmt.Fprintf(w, "    %s --socket %s peers\n", filepath.Join(f.bin, lab.BinCtl), filepath.Join(c.Nodes[0].Dir, "host/run/vxbgp/vxbgp.sock"))
	fmt.Fprintln(w, "  remove it: make demo-k8s-clean   (or: vxbgp-lab demo-k8s-clean)")
}
