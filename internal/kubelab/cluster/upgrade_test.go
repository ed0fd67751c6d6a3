package cluster

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/lab"
)

const (
	// upgradeInterval is every pod pair's ping interval during a rollout.
	upgradeInterval = 100 * time.Millisecond
	// upgradeSettle is how long the pings go on after a rollout is
	// complete: losses a late step (End-of-RIB, stale routes dropped, the
	// VXLAN device removed in routed mode) would cause fall inside it.
	upgradeSettle = 5 * time.Second
	// nextVersion stamps the binaries of the image rolled out.
	nextVersion = "0.0.0-kubelab-next"
	podsPerNode = 2
)

// TestUpgrade deploys vxbgp by its manifests on three nodes, runs two pods
// per node and has every pod ping every other one every 100 ms while the
// DaemonSet is rolled, node by node, by its RollingUpdate strategy:
//   - image: to a new image tag (the same tree, stamped with another
//     version): no request may be lost, every node's agent is a new
//     process running the new version;
//   - mode: the ConfigMap's mode switched to routed, the DaemonSet
//     restarted (as `kubectl rollout restart`), then back to overlay: at
//     most 1 s lost per pod pair, the agents in the new mode after.
func TestUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t0 := time.Now()
	c, bin := startClusterN(ctx, t, 3)
	root := filepath.Dir(filepath.Dir(filepath.Dir(mustGetwd(t)))) // internal/kubelab/cluster
	image, tar := buildImage(t, root, bin)
	next := image + "-next"
	nextTar := buildStampedImage(t, root, bin, next, nextVersion)
	for _, n := range c.Nodes {
		for _, f := range []string{tar, nextTar} {
			if err := n.Import(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	deployManifests(ctx, t, c, root)
	eps := runPods(ctx, t, c, podsPerNode)
	t.Logf("TIMING cluster up, vxbgp deployed, %d pods reaching each other: %s", len(eps), time.Since(t0).Round(time.Millisecond))
	before := waitAgents(ctx, t, c, "dev", "overlay") // buildBinaries stamps nothing

	t.Run("image", func(t *testing.T) {
		t1 := time.Now()
		r := rollUnderPing(ctx, t, c, eps, "image "+next, 0, func(pt *corev1.PodTemplateSpec) { SetImage(pt, next) })
		after := waitAgents(ctx, t, c, nextVersion, "overlay")
		checkImage(ctx, t, c, next)
		checkRestarted(t, r, after)
		before = after
		t.Logf("TIMING image rollout test: %s", time.Since(t1).Round(time.Millisecond))
	})
	t.Run("mode", func(t *testing.T) {
		version := before[c.Nodes[0].Name].Version // whichever the image step left
		for _, mode := range []string{"routed", "overlay"} {
			t1 := time.Now()
			setMode(ctx, t, c, mode)
			r := rollUnderPing(ctx, t, c, eps, "mode "+mode, time.Second, Restart)
			before = waitAgents(ctx, t, c, version, mode)
			checkRestarted(t, r, before)
			checkVXLAN(ctx, t, c, mode == "overlay")
			t.Logf("TIMING mode switch to %s: %s", mode, time.Since(t1).Round(time.Millisecond))
		}
	})
	t.Logf("TIMING whole test before teardown: %s", time.Since(t0).Round(time.Millisecond))
}

// pairPing is one ordered pod pair's loss ping.
type pairPing struct {
	from, to endpoint
	p        *lab.LossPing
}

// rollUnderPing starts a 100 ms loss ping for every ordered pair of eps,
// rolls the DaemonSet with edit, keeps pinging for upgradeSettle once
// the rollout is complete, and fails the test if a pair lost more than
// budget (lost requests times the interval). It logs each pair's
// sent/lost, each loss window placed against the node swaps, and the
// worst pair.
func rollUnderPing(ctx context.Context, t *testing.T, c *Cluster, eps []endpoint, what string, budget time.Duration,
	edit func(*corev1.PodTemplateSpec)) Rollout {
	t.Helper()
	var pings []*pairPing
	defer func() {
		for _, pp := range pings {
			_, _ = pp.p.Stop()
		}
	}()
	for _, a := range eps {
		for _, b := range eps {
			if a == b {
				continue
			}
			p, err := lab.StartLossPing(ctx, a.ns, b.ip, upgradeInterval, 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			pings = append(pings, &pairPing{from: a, to: b, p: p})
		}
	}
	for _, pp := range pings {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := pp.p.WaitReplies(wctx, 3)
		cancel()
		if err != nil {
			t.Fatalf("%s -> %s: no answers before the rollout: %v", pp.from.name, pp.to.name, err)
		}
	}
	r, err := c.RollDaemonSet(ctx, "kube-system", "vxbgp", 3*time.Minute, edit)
	for _, s := range r.Swaps {
		t.Logf("%s: %s", what, s)
	}
	if err != nil {
		logAgents(ctx, t, c)
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("TIMING %s: rollout over %d nodes complete in %s", what, len(r.Swaps), r.End.Sub(r.Start).Round(time.Millisecond))
	select {
	case <-ctx.Done():
	case <-time.After(upgradeSettle):
	}

	var worst *pairPing
	var worstLost, sentAll, lostAll int
	var first, last time.Time // the loss windows' span
	lost := map[[2]string]string{}
	for _, pp := range pings {
		st, err := pp.p.Stop()
		if err != nil {
			t.Fatal(err)
		}
		n := st.Lost()
		sentAll, lostAll = sentAll+st.Transmitted, lostAll+n
		lost[[2]string{pp.from.name, pp.to.name}] = fmt.Sprintf("%d/%d", n, st.Transmitted)
		for _, w := range st.Windows {
			if first.IsZero() || w.At.Before(first) {
				first = w.At
			}
			if end := w.At.Add(time.Duration(w.Lost()) * upgradeInterval); end.After(last) {
				last = end
			}
			t.Logf("%s: %s -> %s lost seq %d-%d (%d) at %s, %+v after the rollout began",
				what, pp.from.name, pp.to.name, w.FromSeq, w.ToSeq, w.Lost(), w.At.Format("15:04:05.0"),
				w.At.Sub(r.Start).Round(100*time.Millisecond))
		}
		if worst == nil || n > worstLost {
			worst, worstLost = pp, n
		}
		if lt := st.LostTime(upgradeInterval); lt > budget {
			t.Errorf("%s: %s -> %s lost %d of %d requests (%s), over the budget of %s",
				what, pp.from.name, pp.to.name, n, st.Transmitted, lt, budget)
		}
	}
	if !first.IsZero() {
		logAgentsAround(t, c, first.Add(-time.Second), last.Add(time.Second))
	}
	t.Logf("%s: lost/sent per pair (row pings column), every %s:\n%s", what, upgradeInterval, lossTable(eps, lost))
	t.Logf("LOSS %s: %d pairs, %d requests sent, %d lost; worst pair %s -> %s: %d lost (%s)", what, len(pings),
		sentAll, lostAll, worst.from.name, worst.to.name, worstLost, time.Duration(worstLost)*upgradeInterval)
	return r
}

// logAgentsAround logs what the agents (the vxbgp pods' containers, old
// and new) logged between from and to: what each node did around a loss.
func logAgentsAround(t *testing.T, c *Cluster, from, to time.Time) {
	t.Helper()
	for _, n := range c.Nodes {
		files, _ := filepath.Glob(filepath.Join(n.Dir, "logs", "kube-system_vxbgp-*", "vxbgpd", "*.log"))
		var lines []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, l := range strings.Split(string(b), "\n") {
				// CRI log format: <RFC3339Nano time> <stream> <tag> <line>
				ts, rest, ok := strings.Cut(l, " ")
				at, err := time.Parse(time.RFC3339Nano, ts)
				if !ok || err != nil || at.Before(from) || at.After(to) {
					continue
				}
				lines = append(lines, at.Local().Format("15:04:05.000")+" "+rest)
			}
		}
		slices.Sort(lines)
		if len(lines) > 60 {
			lines = append(lines[:60], fmt.Sprintf("... %d more", len(lines)-60))
		}
		t.Logf("%s agent log %s to %s:\n%s", n.Name, from.Format("15:04:05.0"), to.Format("15:04:05.0"),
			strings.Join(lines, "\n"))
	}
}

// lossTable is lost/sent for every ordered pair, one row per sender.
func lossTable(eps []endpoint, lost map[[2]string]string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, e := range eps {
		fmt.Fprintf(w, "\t%s", e.name)
	}
	fmt.Fprintln(w)
	for _, a := range eps {
		fmt.Fprint(w, a.name)
		for _, e := range eps {
			cell := "-"
			if v, ok := lost[[2]string{a.name, e.name}]; ok {
				cell = v
			}
			fmt.Fprintf(w, "\t%s", cell)
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
	return b.String()
}

// waitAgents waits until every node's agent runs version in mode and is
// ready, and returns each one's status.
func waitAgents(ctx context.Context, t *testing.T, c *Cluster, version, mode string) map[string]localapi.Status {
	t.Helper()
	out := map[string]localapi.Status{}
	for _, n := range c.Nodes {
		var st localapi.Status
		err := c.poll(ctx, time.Minute, n.Name+"'s agent at "+version+" in "+mode+" mode, ready", func() (bool, error) {
			s, err := n.Agent().Status(ctx)
			if err != nil {
				return false, nil
			}
			st = s
			return s.Version == version && s.Mode == mode && s.Ready, nil
		})
		if err != nil {
			t.Fatalf("%v: last status %+v", err, st)
		}
		t.Logf("agent %s: version %s, mode %s, up %ds, %d/%d peers, %d endpoints, %d routes received, %d FDB entries",
			n.Name, st.Version, st.Mode, st.UptimeSeconds, st.PeersEstablished, st.Peers, st.Endpoints,
			st.RoutesReceived, st.FDBEntries)
		out[n.Name] = st
	}
	return out
}

// checkImage checks every vxbgp pod runs image, in its init container
// and its agent, as the kubelet reports it.
func checkImage(ctx context.Context, t *testing.T, c *Cluster, image string) {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app=vxbgp"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != len(c.Nodes) {
		t.Errorf("%d vxbgp pods, want %d", len(pods.Items), len(c.Nodes))
	}
	for _, p := range pods.Items {
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if cs.Image != image {
				t.Errorf("pod %s on %s: container %s runs %s, want %s", p.Name, p.Spec.NodeName, cs.Name, cs.Image, image)
			}
		}
	}
}

// checkRestarted checks that a rollout replaced every node's pod and
// that its agent (status taken after the rollout) is a new process: up
// for less time than the rollout has been going.
func checkRestarted(t *testing.T, r Rollout, after map[string]localapi.Status) {
	t.Helper()
	if len(r.Swaps) != len(after) {
		t.Errorf("rollout swapped %d pods, want one per node (%d)", len(r.Swaps), len(after))
	}
	for _, s := range r.Swaps {
		if s.NewUID == "" || s.NewUID == s.OldUID {
			t.Errorf("%s: pod %s not replaced", s.Node, s.Old)
		}
		if up := time.Duration(after[s.Node].UptimeSeconds) * time.Second; up > time.Since(r.Start)+time.Second {
			t.Errorf("%s: agent up %s, longer than the rollout began (%s ago): not restarted", s.Node, up,
				time.Since(r.Start).Round(time.Second))
		}
	}
}

// checkVXLAN checks each node has a VXLAN device (overlay mode) or none
// (routed mode, once its agent is ready).
func checkVXLAN(ctx context.Context, t *testing.T, c *Cluster, want bool) {
	t.Helper()
	for _, n := range c.Nodes {
		out, err := lab.IP(ctx, n.Host.NS, "-o", "link", "show", "type", "vxlan")
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.TrimSpace(out) != ""; has != want {
			t.Errorf("%s: VXLAN device present %v, want %v: %s", n.Name, has, want, out)
		}
	}
}

// setMode sets mode in the vxbgp ConfigMap's config.yaml.
func setMode(ctx context.Context, t *testing.T, c *Cluster, mode string) {
	t.Helper()
	cms := c.Client.CoreV1().ConfigMaps("kube-system")
	cm, err := cms.Get(ctx, "vxbgp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^mode: \S+`)
	if !re.MatchString(cm.Data["config.yaml"]) {
		t.Fatalf("no mode in the ConfigMap's config.yaml:\n%s", cm.Data["config.yaml"])
	}
	cm.Data["config.yaml"] = re.ReplaceAllString(cm.Data["config.yaml"], "mode: "+mode)
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// deployManifests applies deploy/kubernetes with the lab overlay (the
// images must be imported) and waits until the DaemonSet is ready, the
// Nodes Ready and every agent peered with every other node.
func deployManifests(ctx context.Context, t *testing.T, c *Cluster, root string) {
	t.Helper()
	u, err := url.Parse(c.CP.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"rbac.yaml", "configmap.yaml", "daemonset.yaml"} {
		if err := kubelab.ApplyFileEdit(ctx, c.Client, filepath.Join(root, "deploy/kubernetes", f),
			LabOverlay(u.Hostname(), u.Port())); err != nil {
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
	if err := c.WaitNodes(ctx, true); err != nil {
		t.Fatal(err)
	}
	checkDeployed(ctx, t, c)
	t.Logf("TIMING DaemonSet ready, Nodes Ready, agents peered: %s", time.Since(t1).Round(time.Millisecond))
}

// runPods runs perNode pods on every node and waits until each reaches
// every other one.
func runPods(ctx context.Context, t *testing.T, c *Cluster, perNode int) []endpoint {
	t.Helper()
	var eps []endpoint
	for i := range perNode {
		for _, n := range c.Nodes {
			name := fmt.Sprintf("up-%s-%d", n.Name, i)
			ip, err := c.RunPod(ctx, name, n)
			if err != nil {
				t.Fatal(err)
			}
			ns, err := c.PodNetns(ctx, n, ip, name)
			if err != nil {
				t.Fatal(err)
			}
			eps = append(eps, endpoint{name, ns, ip})
		}
	}
	lm := make([]lab.Endpoint, len(eps))
	for i, e := range eps {
		lm[i] = e
	}
	t.Logf("ping matrix:\n%s", waitMatrix(ctx, t, c, "pods reaching each other", lm))
	return eps
}

// buildStampedImage builds vxbgpd, vxbgpctl and vxbgp-cni stamped with
// version (as make build stamps VERSION) and packs them as image name
// with the vxbgp-image built by buildImage in bin; it returns the tarball.
func buildStampedImage(t *testing.T, root, bin, name, version string) string {
	t.Helper()
	dir := t.TempDir()
	ldflags := fmt.Sprintf("-X github.com/vxbgp/vxbgp/control/agent.Version=%[1]s -X github.com/vxbgp/vxbgp/internal/version.Version=%[1]s", version)
	tar := filepath.Join(dir, "vxbgp-image.tar")
	for _, argv := range [][]string{
		{"go", "build", "-ldflags", ldflags, "-o", dir + "/", "./cmd/" + lab.BinAgent, "./cmd/" + lab.BinCtl, "./cmd/" + lab.BinCNI},
		{filepath.Join(bin, "vxbgp-image"), "-name", name, "-bin", dir, "-conflist", "deploy/cni/10-vxbgp.conflist", "-o", tar},
	} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	return tar
}
