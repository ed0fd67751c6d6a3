package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// Bounds of the workload scenarios: how long an agent may take to forget
// a deleted pod, or a deleted node, on every other node (BGP withdrawal,
// reconcile). Measured on a busy 2-core machine: see the TIMING lines.
const (
	withdrawBound   = 20 * time.Second
	nodeLeaveBound  = 30 * time.Second
	matrixPatience  = 90 * time.Second
	chainedConflist = "05-ptp-vxbgp.conflist"
)

// TestWorkloads runs workloads on a 3-node cluster with vxbgp deployed by
// its DaemonSet (DeployVxbgp), one scenario after the other on the same
// cluster, each starting from where the last one left it:
//
//   - Deployment: 3 pods per node, spread by the scheduler (topology
//     spread, no nodeName); every pod pings every other one through
//     kubectl's exec path (ExecPingMatrix), the matrix is printed.
//   - DeletePods: one pod per node deleted; within withdrawBound no other
//     node's agent (routes, FDB) nor kernel (FDB, neighbours) knows it.
//   - AddNode: h4 joins; the DaemonSet's pod starts there, every agent
//     peers with it, pods scheduled on it reach all others and back.
//   - DrainDelete: h2 drained, stopped and deleted; within nodeLeaveBound
//     the others have no peer, route, FDB or neighbour entry for it or its
//     pods, and its evicted pods run and ping elsewhere.
//   - Chained: the reference ptp plugin first and vxbgp-cni chained after
//     it (README "Chaining"); pods on different nodes ping each other.
func TestWorkloads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t0 := time.Now()
	c, bin := startClusterN(ctx, t, 3)
	root := filepath.Dir(filepath.Dir(filepath.Dir(mustGetwd(t)))) // internal/kubelab/cluster
	_, tar := buildImage(t, root, bin)
	podTar := filepath.Join(bin, "kubelab-pod.tar")
	if err := WritePodImage(podTar, filepath.Join(bin, "kubelab-pod")); err != nil {
		t.Fatal(err)
	}
	if err := c.ImportAll(ctx, podTar); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := c.DeployVxbgp(ctx, filepath.Join(root, "deploy/kubernetes"), tar, nil); err != nil {
		logAgents(ctx, t, c)
		t.Fatal(err)
	}
	t.Logf("TIMING DaemonSet ready and Nodes Ready on %d nodes: %s", len(c.Nodes), time.Since(t1).Round(time.Millisecond))
	// Before the cluster stops (cleanups run last-in first-out): the
	// Deployments' pods go through their kubelets and CNI DEL.
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, d := range []string{"web", "chained"} {
			if err := c.DeleteDeployment(dctx, d); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	steps := []struct {
		name string
		run  func(t *testing.T, c *Cluster)
	}{
		{"Deployment", testDeployment},
		{"DeletePods", testDeletePods},
		{"AddNode", testAddNode},
		{"DrainDelete", testDrainDelete},
		{"Chained", testChained},
	}
	for _, s := range steps {
		t2 := time.Now()
		ok := t.Run(s.name, func(t *testing.T) { s.run(t, c) })
		t.Logf("TIMING %s: %s", s.name, time.Since(t2).Round(time.Millisecond))
		if !ok {
			logAgents(ctx, t, c)
			t.FailNow() // the next scenario starts from this one's end
		}
	}
	t.Logf("TIMING whole test before teardown: %s", time.Since(t0).Round(time.Millisecond))
}

// testDeployment: 3 pods per node through the scheduler, all reach all.
func testDeployment(t *testing.T, c *Cluster) {
	ctx := t.Context()
	n := int32(3 * len(c.Nodes))
	t0 := time.Now()
	if err := c.CreateDeployment(ctx, "web", n); err != nil {
		t.Fatal(err)
	}
	ws := waitWorkloads(t, c, "web")
	t.Logf("TIMING %d pods running and ready: %s", n, time.Since(t0).Round(time.Millisecond))
	checkSpread(t, c, ws, 3)
	pingMatrix(t, c, ws)
}

// testDeletePods deletes the first pod of every node and waits until no
// trace of them is left: on the other nodes, in the agents' routes and
// FDB and in the kernels' FDB and neighbour tables; on their own node, in
// the agent's endpoints. A pod's MAC is its identity (the Deployment's
// replacement may get the same address: addresses are checked only while
// no live pod holds them).
func testDeletePods(t *testing.T, c *Cluster) {
	ctx := t.Context()
	ws := waitWorkloads(t, c, "web")
	var victims []victim
	for _, n := range c.Nodes {
		i := slices.IndexFunc(ws, func(w Workload) bool { return w.Node == n.Name })
		ep, err := endpointOf(ctx, n, ws[i].IP)
		if err != nil {
			t.Fatal(err)
		}
		victims = append(victims, victim{Workload: ws[i], node: n, mac: ep.MAC})
	}
	// The check sees them before: each is known on the other nodes.
	for _, v := range victims {
		o := c.Nodes[(slices.Index(c.Nodes, v.node)+1)%len(c.Nodes)]
		if r, err := residue(ctx, o, gone{macs: []string{v.mac}, ips: []string{v.IP}}); err != nil || len(r) == 0 {
			t.Fatalf("%s does not show pod %s (%s %s) before its deletion (%v): the check would prove nothing", o.Name, v.Short, v.IP, v.mac, err)
		}
	}
	t0 := time.Now()
	for _, v := range victims {
		if err := c.Client.CoreV1().Pods("default").Delete(ctx, v.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("deleted pod %s (%s) on %s: %s %s", v.Short, v.Name, v.Node, v.IP, v.mac)
	}
	var left []string
	err := c.poll(ctx, withdrawBound, "deleted pods withdrawn on every node", func() (bool, error) {
		live := liveIPs(ctx, c)
		left = nil
		for _, n := range c.Nodes {
			g := gone{}
			for _, v := range victims {
				if v.node == n {
					if ep, err := endpointOf(ctx, n, v.IP); err == nil && ep.MAC == v.mac {
						left = append(left, fmt.Sprintf("%s: endpoint %s %s still local", n.Name, v.IP, v.mac))
					}
					continue
				}
				g.macs = append(g.macs, v.mac)
				if !live[v.IP] {
					g.ips = append(g.ips, v.IP)
				}
			}
			r, err := residue(ctx, n, g)
			if err != nil {
				return false, err
			}
			left = append(left, r...)
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("%v; left:\n%s", err, strings.Join(left, "\n"))
	}
	t.Logf("TIMING %d deleted pods withdrawn from every node's agent and kernel: %s (bound %s)", len(victims),
		time.Since(t0).Round(time.Millisecond), withdrawBound)
	ws = waitWorkloads(t, c, "web")
	logLines(t, "replacements running:\n"+Legend(ws))
}

// testAddNode adds h4: its DaemonSet pod, its peers, then three more
// replicas, which the spread constraint puts on it, reach everyone.
func testAddNode(t *testing.T, c *Cluster) {
	ctx := t.Context()
	t0 := time.Now()
	n, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitDaemonSet(ctx, "kube-system", "vxbgp"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodes(ctx, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING node %s added, its DaemonSet pod ready and the Node Ready: %s", n.Name, time.Since(t0).Round(time.Millisecond))
	checkDeployed(ctx, t, c) // every agent peers with every other node, h4 included
	t.Logf("TIMING every agent peered with %s: %s", n.Name, time.Since(t0).Round(time.Millisecond))
	if err := c.ScaleDeployment(ctx, "web", int32(3*len(c.Nodes))); err != nil {
		t.Fatal(err)
	}
	ws := waitWorkloads(t, c, "web")
	checkSpread(t, c, ws, 3)
	pingMatrix(t, c, ws)
}

// testDrainDelete retires h2 and checks the others forget it.
func testDrainDelete(t *testing.T, c *Cluster) {
	ctx := t.Context()
	n := c.Nodes[1]
	var g gone
	g.vtep, g.cidr = n.Host.Addr, n.PodCIDR
	eps, err := localapi.NewClient(agentSocket(n)).Endpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		g.macs = append(g.macs, strings.ToLower(ep.MAC))
		g.ips = append(g.ips, ep.IPs...) // h2's block: never handed out again
	}
	t.Logf("retiring %s (%s, podCIDR %s) with %d pods", n.Name, g.vtep, g.cidr, len(eps))
	if r, err := residue(ctx, c.Nodes[0], g); err != nil || len(r) == 0 {
		t.Fatalf("%s shows nothing of %s before it leaves (%v): the check would prove nothing", c.Nodes[0].Name, n.Name, err)
	} else {
		t.Logf("what %s holds of %s before (%d entries):\n%s", c.Nodes[0].Name, n.Name, len(r), strings.Join(r, "\n"))
	}
	t0 := time.Now()
	if err := c.DrainNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING drain of %s: %s", n.Name, time.Since(t0).Round(time.Millisecond))
	t1 := time.Now()
	if err := c.RemoveNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	var left []string
	err = c.poll(ctx, nodeLeaveBound, n.Name+" forgotten by every other node", func() (bool, error) {
		left = nil
		for _, o := range c.Nodes {
			r, err := residue(ctx, o, g)
			if err != nil {
				return false, err
			}
			left = append(left, r...)
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("%v; left:\n%s", err, strings.Join(left, "\n"))
	}
	t.Logf("TIMING %s stopped and deleted until no other node holds a peer, route, FDB or neighbour entry for it: %s (bound %s)",
		n.Name, time.Since(t1).Round(time.Millisecond), nodeLeaveBound)
	// Not WaitDaemonSet: its status counts h2's orphaned pod until the pod
	// garbage collector removes it (~40 s; the DaemonSet controller does
	// not watch Node deletions).
	ws := waitWorkloads(t, c, "web")
	checkSpread(t, c, ws, 4) // h2's three, evicted, now on the other three
	pingMatrix(t, c, ws)
}

// testChained gives every node a conflist that sorts before the agent's:
// ptp with host-local in a range of its own (10.244.20<i>.0/24: inside the
// network's subnet, outside every podCIDR) and vxbgp-cni chained after
// it. Pods then get ptp's addresses, the agents announce them as host
// routes, and pods on different nodes ping each other.
func testChained(t *testing.T, c *Cluster) {
	ctx := t.Context()
	if err := c.DeleteDeployment(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	ranges := map[string]netip.Prefix{}
	for _, n := range c.Nodes {
		pfx := netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", 200+n.Host.Index))
		ranges[n.Name] = pfx
		conf := map[string]any{"cniVersion": "1.0.0", "name": "ptp-vxbgp", "plugins": []any{
			map[string]any{"type": "ptp", "ipam": map[string]any{
				"type": "host-local", "dataDir": filepath.Join(n.Dir, "ipam"),
				"ranges": [][]map[string]string{{{"subnet": lab.PodSubnet,
					"rangeStart": fmt.Sprintf("10.244.%d.10", 200+n.Host.Index), "rangeEnd": fmt.Sprintf("10.244.%d.250", 200+n.Host.Index)}}},
			}},
			map[string]any{"type": lab.BinCNI, "chained": true, "network": lab.NetworkName,
				"socket": "/run/vxbgp/vxbgp.sock", "stateDir": "/var/lib/vxbgp"},
		}}
		if err := writeConflist(n, chainedConflist, conf); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(filepath.Join(n.NetDir, chainedConflist)) })
	}
	t0 := time.Now()
	if err := c.CreateDeployment(ctx, "chained", int32(3*len(c.Nodes))); err != nil {
		t.Fatal(err)
	}
	ws := waitWorkloads(t, c, "chained")
	t.Logf("TIMING %d chained pods running and ready: %s", len(ws), time.Since(t0).Round(time.Millisecond))
	checkSpread(t, c, ws, 3)
	for _, w := range ws {
		// containerd reloads the conf dir on the write; a pod that raced it
		// would have the agent's own address, from the podCIDR.
		if !ranges[w.Node].Contains(netip.MustParseAddr(w.IP)) {
			t.Fatalf("pod %s on %s has %s, not from ptp's range %s: the chained conflist was not used", w.Name, w.Node, w.IP, ranges[w.Node])
		}
		n := c.Nodes[slices.IndexFunc(c.Nodes, func(n *Node) bool { return n.Name == w.Node })]
		ep, err := endpointOf(ctx, n, w.IP)
		if err != nil || !ep.Chained {
			t.Fatalf("pod %s on %s: agent endpoint %+v, %v: want a chained endpoint", w.Name, w.Node, ep, err)
		}
	}
	pingMatrix(t, c, ws)
}

// waitWorkloads waits for Deployment name's pods and logs them as
// `kubectl get pods -o wide` would show them.
func waitWorkloads(t *testing.T, c *Cluster, name string) []Workload {
	t.Helper()
	ws, err := c.WaitDeployment(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// checkSpread fails unless every node runs exactly per pods of ws.
func checkSpread(t *testing.T, c *Cluster, ws []Workload, per int) {
	t.Helper()
	count := map[string]int{}
	for _, w := range ws {
		count[w.Node]++
	}
	for _, n := range c.Nodes {
		if count[n.Name] != per {
			t.Fatalf("scheduler spread %v over %d nodes, want %d on each:\n%s", count, len(c.Nodes), per, Legend(ws))
		}
	}
	logLines(t, fmt.Sprintf("pods (label, name, node, IP), %d per node:\n%s", per, Legend(ws)))
}

// pingMatrix runs the exec ping matrix until every pair answers (the
// newest pods' entries may still be on their way) and prints it.
func pingMatrix(t *testing.T, c *Cluster, ws []Workload) {
	t.Helper()
	ctx := t.Context()
	t0 := time.Now()
	var m *lab.Matrix
	rounds := 0
	err := c.poll(ctx, matrixPatience, "every pod to reach every other one", func() (bool, error) {
		rounds++
		m = c.ExecPingMatrix(ctx, ws)
		return len(m.Failed()) == 0, nil
	})
	if err != nil {
		for k, e := range m.Errs {
			t.Logf("%s -> %s: %v", ws[k[0]].Short, ws[k[1]].Short, e)
		}
		t.Fatalf("%v\n%s", err, m)
	}
	logLines(t, fmt.Sprintf("kubectl exec ping matrix (%d pods, one exec per row; round %d):\n%s", len(ws), rounds, m))
	t.Logf("TIMING exec ping matrix of %d pods all OK: %s (last round %s)", len(ws), time.Since(t0).Round(time.Millisecond),
		m.Took.Round(time.Millisecond))
}

// logLines logs text one line per call: make test-k8s shows only lines
// that name the test file, and the matrix is for the operator to see.
func logLines(t *testing.T, text string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		t.Log(l)
	}
}
