package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/kubelab/cluster"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// The k8s part: a real cluster (internal/kubelab/cluster: a control plane
// and two nodes, each with containerd and a kubelet) whose nodes switch
// between vxbgp-cni and the reference bridge + host-local, the same pods
// created through the same kubelets on both, sample by sample.

// Row names of the k8s part: vxbgp-cni vs the same nodes on the
// reference plugins (Debian's, which the cluster lab links).
const (
	WhatK8sPod   = "k8s: pod Create -> Ready through the kubelet, per pod"
	WhatK8sBatch = "k8s: a batch of pods, first Create -> all Ready"
	WhatK8sCRI   = "k8s: CRI RunPodSandbox on a node, kubelet paused"
	refK8s       = "bridge+host-local 1.1.1 (Debian)"
)

// k8sNodes is the cluster's size: two nodes, so vxbgp announces every pod
// to a peer as it would in any cluster.
const k8sNodes = 2

// PauseBin is the sandbox image's binary the k8s part packs (built static
// from internal/kubelab/cmd/kubelab-pause into the -bin directory).
const PauseBin = "kubelab-pause"

// k8sSide is one CNI of the cluster: its conflist on every node.
type k8sSide struct {
	name    string // for pod names: "vx", "ref"
	file    string // the conflist's file name in each node's conf dir
	network string // its "name", which containerd's CRI Status reports once loaded
	conf    map[string][]byte
	ours    bool
}

// k8sRun is the cluster and the state of a k8s part run.
type k8sRun struct {
	c         Config
	cl        *cluster.Cluster
	vx, ref   *k8sSide
	cur       *k8sSide
	criNode   *cluster.Node
	barriers  []time.Duration // pods deleted until settled
	switches  []time.Duration // conflist switch until a warm pod ran and all settled
	criGone   []time.Duration // CRI teardown until settled
	batchNote []string
}

// k8sSuite runs the k8s part: the rows WhatK8sPod, WhatK8sBatch and
// WhatK8sCRI, each against the same cluster with bridge + host-local.
func k8sSuite(ctx context.Context, c Config, sz sizes) ([]Row, []string) {
	fail := func(err error) ([]Row, []string) {
		return []Row{errRow(WhatK8sPod, refK8s, err), errRow(WhatK8sBatch, refK8s, err), errRow(WhatK8sCRI, refK8s, err)}, nil
	}
	if err := k8sTools(c.BinDir); err != nil {
		return fail(err)
	}
	c.Logf("k8s: Kubernetes %s binaries (a cold build takes ~15 min; make kubelab builds them)", kubelab.Version)
	k8sBin, err := kubelab.Build(ctx, kubelab.Version, c.Logf, kubelab.APIServer, kubelab.ControllerManager,
		kubelab.Scheduler, kubelab.Kubelet)
	if err != nil {
		return fail(fmt.Errorf("kubernetes binaries: %w", err))
	}
	t0 := time.Now()
	cl, err := cluster.Start(ctx, cluster.Options{Nodes: k8sNodes, K8sBin: k8sBin, VxbgpBin: c.BinDir,
		Pause: filepath.Join(c.BinDir, PauseBin), Logf: c.Logf})
	if err != nil {
		return fail(fmt.Errorf("start cluster: %w", err))
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel()
		if err := cl.Stop(sctx); err != nil {
			c.Logf("k8s: stop cluster: %v", err)
		}
	}()
	r := &k8sRun{c: c, cl: cl, criNode: cl.Nodes[0]}
	if err := r.setup(ctx); err != nil {
		return fail(fmt.Errorf("cluster setup: %w", err))
	}
	notes := []string{fmt.Sprintf("k8s: cluster (control plane + %d nodes, containerd %s, kubelet %s) started, both CNIs set up, in %s",
		k8sNodes, containerdVersion(ctx), kubelab.Version, time.Since(t0).Round(time.Second))}
	var podsVx, podsRef, batchVx, batchRef, criVx, criRef []time.Duration
	var runErr error
	for p := 0; p < sz.k8sBatches && runErr == nil; p++ {
		// The reference goes first in every other pair.
		order := []*k8sSide{r.ref, r.vx}
		if p%2 == 1 {
			order = []*k8sSide{r.vx, r.ref}
		}
		for _, side := range order {
			if runErr = r.use(ctx, side); runErr != nil {
				break
			}
			lat, total, err := r.podBatch(ctx, side, sz.k8sPods, p)
			if err != nil {
				runErr = fmt.Errorf("%s pods, batch %d: %w", side.name, p+1, err)
				break
			}
			cri, err := r.criRound(ctx, side, sz.k8sCRI, p)
			if err != nil {
				runErr = fmt.Errorf("%s CRI round %d: %w", side.name, p+1, err)
				break
			}
			if side.ours {
				podsVx, batchVx, criVx = append(podsVx, lat...), append(batchVx, total), append(criVx, cri...)
			} else {
				podsRef, batchRef, criRef = append(podsRef, lat...), append(batchRef, total), append(criRef, cri...)
			}
		}
	}
	rows := []Row{
		latencyRow(WhatK8sPod, refK8s, podsVx, podsRef),
		latencyRow(WhatK8sBatch, refK8s, batchVx, batchRef),
		latencyRow(WhatK8sCRI, refK8s, criVx, criRef),
	}
	rows[0].Note = fmt.Sprintf("%s of %d pods a side (%d per node), each pod from its Create call to the watch event showing it Ready; pairs alternate which side goes first",
		plural(len(batchVx), "batch", "batches"), sz.k8sPods, sz.k8sPods/k8sNodes)
	rows[1].Note = "first Create call until the last pod Ready; " + strings.Join(r.batchNote, ", ")
	rows[2].Note = fmt.Sprintf("%s of %d sandboxes a side on %s, one after another, its kubelet stopped (SIGSTOP) meanwhile; sandboxes kept until the round ends",
		plural(len(batchVx), "round", "rounds"), sz.k8sCRI, r.criNode.Name)
	if runErr != nil {
		for i := range rows {
			rows[i].Err = runErr.Error()
		}
	}
	notes = append(notes, fmt.Sprintf("k8s barriers: pods deleted until CNI DELs done and quiet %s; CRI teardown until quiet %s; CNI switch (conflist loaded, a warm pod per node run and deleted, quiet) %s",
		fmtDurations(r.barriers), fmtDurations(r.criGone), fmtDurations(r.switches)))
	return rows, notes
}

// k8sTools checks what the cluster lab needs, naming what is missing.
func k8sTools(binDir string) error {
	var missing []string
	for _, t := range []string{"containerd", "ctr", "runc", "nsenter", "unshare", "etcd"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	for _, f := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", filepath.Join(binDir, PauseBin)} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the k8s part needs %s (Debian: containerd runc util-linux etcd-server containernetworking-plugins; %s: CGO_ENABLED=0 go build -o BIN/ ./internal/kubelab/cmd/kubelab-pause)",
			strings.Join(missing, ", "), PauseBin)
	}
	return nil
}

// setup brings up both CNIs: the bridge first (the nodes become Ready),
// then vxbgp (its agents start and peer); it keeps each conflist to switch
// between them.
func (r *k8sRun) setup(ctx context.Context) error {
	cl := r.cl
	if err := cl.UseBridge(); err != nil {
		return err
	}
	if err := cl.WaitNodes(ctx, true); err != nil {
		return err
	}
	var err error
	if r.ref, err = readSide(cl, "ref", false); err != nil {
		return err
	}
	if err := cl.UseVxbgp(ctx); err != nil {
		return err
	}
	if _, err := cl.Lab.WaitAllPeers(ctx); err != nil {
		return err
	}
	if r.vx, err = readSide(cl, "vx", true); err != nil {
		return err
	}
	r.cur = r.vx
	return r.waitLoaded(ctx, r.vx)
}

// readSide keeps the one conflist in each node's conf dir.
func readSide(cl *cluster.Cluster, name string, ours bool) (*k8sSide, error) {
	s := &k8sSide{name: name, ours: ours, conf: map[string][]byte{}}
	for _, n := range cl.Nodes {
		files, _ := filepath.Glob(filepath.Join(n.NetDir, "*.conflist"))
		if len(files) != 1 {
			return nil, fmt.Errorf("%s: want one conflist in %s, have %v", n.Name, n.NetDir, files)
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			return nil, err
		}
		var conf struct{ Name string }
		if err := json.Unmarshal(b, &conf); err != nil || conf.Name == "" {
			return nil, fmt.Errorf("%s: conflist %s has no name (%v)", n.Name, files[0], err)
		}
		s.file, s.network, s.conf[n.Name] = filepath.Base(files[0]), conf.Name, b
	}
	return s, nil
}

// use switches every node to side (unless it is in use): its conflist is
// written (in one write: containerd reloads on a write, not on a create)
// and the other removed, and cni0 (the bridge's) deleted when going to
// vxbgp, as cluster.UseVxbgp does. Then, untimed, until each node's
// containerd reports the side's network loaded, a warm pod ran on each
// node and was deleted, and all is quiet: the switch's own costs (the
// reference's cni0 is made again by its first pod) are in no sample.
func (r *k8sRun) use(ctx context.Context, side *k8sSide) error {
	if r.cur == side {
		return nil
	}
	t0 := time.Now()
	other := r.ref
	if side == r.ref {
		other = r.vx
	}
	for _, n := range r.cl.Nodes {
		if err := os.WriteFile(filepath.Join(n.NetDir, side.file), side.conf[n.Name], 0o644); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(n.NetDir, other.file)); err != nil {
			return err
		}
		if side.ours {
			if _, err := lab.IP(ctx, n.Host.NS, "link", "show", "cni0"); err == nil {
				if _, err := lab.IP(ctx, n.Host.NS, "link", "del", "cni0"); err != nil {
					return err
				}
			}
		}
	}
	r.cur = side
	if err := r.waitLoaded(ctx, side); err != nil {
		return err
	}
	if err := r.cl.WaitNodes(ctx, true); err != nil {
		return err
	}
	for _, n := range r.cl.Nodes {
		if _, err := r.cl.RunPod(ctx, "warm-"+side.name+"-"+n.Name, n); err != nil {
			return fmt.Errorf("warm pod after switching to %s: %w", side.network, err)
		}
	}
	if _, err := r.removePods(ctx, side); err != nil {
		return err
	}
	r.switches = append(r.switches, time.Since(t0))
	return nil
}

// waitLoaded waits until every node's containerd has loaded side's
// network and no other (loopback aside).
func (r *k8sRun) waitLoaded(ctx context.Context, side *k8sSide) error {
	for _, n := range r.cl.Nodes {
		cri, err := dialCRI(ctx, n.Sock)
		if err != nil {
			return err
		}
		var last []string
		err = poll(ctx, 30*time.Second, func() (bool, error) {
			last, err = cri.CNINetworks(ctx)
			if err != nil {
				return false, err
			}
			last = slices.DeleteFunc(last, func(s string) bool { return s == "cni-loopback" })
			return len(last) == 1 && last[0] == side.network, nil
		})
		cri.Close()
		if err != nil {
			return fmt.Errorf("%s: containerd to load CNI network %s (has %v): %w", n.Name, side.network, last, err)
		}
	}
	return nil
}

// poll calls f every 100 ms until it is done, fails, or limit passes.
func poll(ctx context.Context, limit time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		ok, err := f()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// containerdVersion is `containerd --version`'s version field.
func containerdVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "containerd", "--version").Output()
	if f := strings.Fields(string(out)); err == nil && len(f) >= 3 {
		return f[2]
	}
	return "?"
}

func fmtDurations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "(none)"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("median %s (%s–%s, %d)", s[(len(s)-1)/2].Round(10*time.Millisecond),
		s[0].Round(10*time.Millisecond), s[len(s)-1].Round(10*time.Millisecond), len(s))
}

var errNotReady = errors.New("pods not Ready")

// plural is "1 batch" or "n batches".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
