package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/vxbgp/vxbgp/internal/kubelab/cluster"
)

// podBatch creates n pods at once (each by its own Create call; pod i on
// node i mod k8sNodes by a nodeSelector, as on the other side) and waits
// until each is Ready; it returns each pod's time from its Create call to
// the watch event that first showed it Ready, and the batch's from the
// first call to the last Ready. Then it checks the pods are where and
// what they should be (node, IP in its podCIDR, attached by side's
// plugin) and removes them behind a barrier.
func (r *k8sRun) podBatch(ctx context.Context, side *k8sSide, n, p int) ([]time.Duration, time.Duration, error) {
	tag := fmt.Sprintf("%s-%d", side.name, p+1)
	pods := r.cl.Client.CoreV1().Pods("default")
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "kubebench=" + tag})
	if err != nil {
		return nil, 0, fmt.Errorf("watch pods: %w", err)
	}
	defer w.Stop()
	ready := map[string]time.Time{}
	done := make(chan error, 1)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				done <- fmt.Errorf("watch pods: %v", ev.Object)
				return
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || !podReady(pod) {
				continue
			}
			if _, seen := ready[pod.Name]; !seen {
				ready[pod.Name] = time.Now()
				if len(ready) == n {
					done <- nil
					return
				}
			}
		}
		done <- errors.New("watch pods: closed by the API server")
	}()
	start := make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := benchPod(fmt.Sprintf("k8s-%s-%d", tag, i), tag, r.cl.Nodes[i%len(r.cl.Nodes)].Name)
			start[i] = time.Now()
			if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				errs[i] = fmt.Errorf("create pod %s: %w", pod.Name, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	limit := 2*time.Minute + time.Duration(n)*2*time.Second
	select {
	case err = <-done:
	case <-time.After(limit):
		err = fmt.Errorf("%w after %v", errNotReady, limit)
	case <-ctx.Done():
		err = ctx.Err()
	}
	w.Stop()
	if err != nil {
		return nil, 0, err // the next barrier (or Stop) removes the pods
	}
	lat := make([]time.Duration, n)
	first, last := start[0], time.Time{}
	for i := range n {
		t := ready[fmt.Sprintf("k8s-%s-%d", tag, i)]
		lat[i] = t.Sub(start[i])
		if start[i].Before(first) {
			first = start[i]
		}
		if t.After(last) {
			last = t
		}
	}
	if err := r.checkBatch(ctx, side, tag, n); err != nil {
		return nil, 0, err
	}
	total := last.Sub(first)
	r.batchNote = append(r.batchNote, fmt.Sprintf("%s %d: %s", side.name, p+1, total.Round(time.Millisecond)))
	if _, err := r.removePods(ctx, side); err != nil {
		return nil, 0, err
	}
	return lat, total, nil
}

func benchPod(name, tag, node string) *corev1.Pod {
	never := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubebench": tag}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": node},
			TerminationGracePeriodSeconds: &never,
			Containers: []corev1.Container{{Name: "pause", Image: cluster.PauseImage,
				ImagePullPolicy: corev1.PullNever}},
		},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// checkBatch checks the batch did the same work on both sides: each pod
// on its node with an IP from the node's podCIDR, and each node's side
// holding exactly its pods (vxbgpd's endpoints; host-local's leases).
func (r *k8sRun) checkBatch(ctx context.Context, side *k8sSide, tag string, n int) error {
	l, err := r.cl.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "kubebench=" + tag})
	if err != nil {
		return err
	}
	if len(l.Items) != n {
		return fmt.Errorf("%d pods listed, want %d", len(l.Items), n)
	}
	perNode := map[string]int{}
	for _, n := range r.cl.Nodes {
		pfx, err := netip.ParsePrefix(n.PodCIDR)
		if err != nil {
			return fmt.Errorf("%s podCIDR %q: %w", n.Name, n.PodCIDR, err)
		}
		for _, p := range l.Items {
			if p.Spec.NodeName != n.Name {
				continue
			}
			perNode[n.Name]++
			if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !pfx.Contains(ip) {
				return fmt.Errorf("pod %s on %s has IP %q, not in %s", p.Name, n.Name, p.Status.PodIP, n.PodCIDR)
			}
		}
	}
	for i, node := range r.cl.Nodes {
		want := n / len(r.cl.Nodes)
		if i < n%len(r.cl.Nodes) {
			want++
		}
		have, err := sideCount(ctx, side, node)
		if err != nil {
			return err
		}
		if perNode[node.Name] != want || have != want {
			return fmt.Errorf("%s: %d pods, %s holds %d, want %d", node.Name, perNode[node.Name], side.network, have, want)
		}
	}
	return nil
}

// sideCount is how many pods side's plugin holds on node: vxbgpd's local
// endpoints, or the reference's host-local leases.
func sideCount(ctx context.Context, side *k8sSide, n *cluster.Node) (int, error) {
	if side.ours {
		eps, err := n.Host.Endpoints(ctx)
		return len(eps), err
	}
	ents, err := os.ReadDir(filepath.Join(n.Dir, "ipam", side.network))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	count := 0
	for _, e := range ents {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			count++
		}
	}
	return count, err
}

// removePods is the barrier after pods of the kubelets: every pod deleted
// and its sandbox stopped (cluster.DeletePods), the stopped sandboxes
// removed through the CRI (the second CNI DEL, which the kubelet's
// garbage collection would run up to a minute later, during another
// sample), no pod left in side's plugin, and the agents and containerds
// quiet.
func (r *k8sRun) removePods(ctx context.Context, side *k8sSide) (time.Duration, error) {
	t0 := time.Now()
	if err := r.cl.DeletePods(ctx); err != nil {
		return 0, err
	}
	for _, n := range r.cl.Nodes {
		cri, err := dialCRI(ctx, n.Sock)
		if err != nil {
			return 0, err
		}
		err = removeSandboxes(ctx, cri, func(s sandbox) bool { return s.Namespace == "default" && !s.Ready })
		cri.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	if err := r.waitEmpty(ctx, side); err != nil {
		return 0, err
	}
	if err := r.settle(ctx); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	r.barriers = append(r.barriers, d)
	return d, nil
}

func removeSandboxes(ctx context.Context, cri *criClient, match func(sandbox) bool) error {
	l, err := cri.ListPodSandbox(ctx)
	if err != nil {
		return err
	}
	for _, s := range l {
		if !match(s) {
			continue
		}
		if s.Ready {
			if err := cri.StopPodSandbox(ctx, s.ID); err != nil {
				return err
			}
		}
		if err := removeSandbox(ctx, cri, s.ID); err != nil {
			return err
		}
	}
	return nil
}

// removeSandbox removes sandbox id. containerd 1.6 answers a sandbox
// already gone without an error, but one whose removal is under way (the
// kubelet's garbage collection got there first) with "already in removing
// state": then it asks again until that removal is done (10 s at most).
func removeSandbox(ctx context.Context, cri *criClient, id string) error {
	for range 100 {
		err := cri.RemovePodSandbox(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "already in removing state") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("sandbox %s: still being removed by someone else after 10 s", id)
}

// waitEmpty waits until side's plugin holds no pod on any node.
func (r *k8sRun) waitEmpty(ctx context.Context, side *k8sSide) error {
	for _, n := range r.cl.Nodes {
		have := -1
		err := poll(ctx, time.Minute, func() (bool, error) {
			var err error
			have, err = sideCount(ctx, side, n)
			return err == nil && have == 0, err
		})
		if err != nil {
			return fmt.Errorf("%s: %s still holds %d pods: %w", n.Name, side.network, have, err)
		}
	}
	return nil
}

// settle waits until the agents and the containerds are quiet; the
// kubelets and the control plane are not waited for: their periodic work
// (a kubelet relists its pods every second) never falls quiet.
func (r *k8sRun) settle(ctx context.Context) error {
	var pids []int
	for _, n := range r.cl.Nodes {
		pid := n.Host.PID()
		if pid == 0 {
			return fmt.Errorf("%s: vxbgpd not running", n.Name)
		}
		pids = append(pids, pid, n.PIDs()["containerd"])
	}
	_, err := settle(ctx, pids, time.Minute)
	return err
}

// criRound acts as the kubelet on r.criNode: k RunPodSandbox calls one
// after another (each timed, its CNI ADD included), with the node's
// kubelet stopped (SIGSTOP) so its housekeeping neither kills these
// sandboxes, which it does not know, nor competes; then every sandbox
// stopped and removed, and the barrier.
func (r *k8sRun) criRound(ctx context.Context, side *k8sSide, k, p int) (lat []time.Duration, err error) {
	n := r.criNode
	kubelet := n.PIDs()["kubelet"]
	if kubelet <= 0 {
		return nil, fmt.Errorf("%s: no kubelet to pause", n.Name)
	}
	cri, err := dialCRI(ctx, n.Sock)
	if err != nil {
		return nil, err
	}
	defer cri.Close()
	if err := syscall.Kill(kubelet, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("pause kubelet %d: %w", kubelet, err)
	}
	ours := func(s sandbox) bool { return s.Namespace == "kubebench" }
	paused := true
	resume := func() error {
		paused = false
		if err := syscall.Kill(kubelet, syscall.SIGCONT); err != nil {
			return fmt.Errorf("resume kubelet %d: %w", kubelet, err)
		}
		return nil
	}
	defer func() {
		if err != nil {
			_ = removeSandboxes(context.WithoutCancel(ctx), cri, ours)
		}
		if paused {
			_ = resume()
		}
	}()
	if err := r.settle(ctx); err != nil {
		return nil, err
	}
	var ids []string
	for i := range k {
		name := fmt.Sprintf("cri-%s-%d-%d", side.name, p+1, i)
		cctx, cancel := context.WithTimeout(ctx, criTimeout)
		t0 := time.Now()
		id, err := cri.RunPodSandbox(cctx, name, name+"-"+r.cl.ID, "kubebench", n.Cgroup+"/kubebench")
		d := time.Since(t0)
		cancel()
		if err != nil {
			return nil, err
		}
		lat, ids = append(lat, d), append(ids, id)
	}
	for _, id := range ids {
		if ip, err := cri.PodSandboxIP(ctx, id); err != nil || ip == "" {
			return nil, fmt.Errorf("sandbox %.12s has no pod IP (%v)", id, err)
		}
	}
	if have, err := sideCount(ctx, side, n); err != nil || have != k {
		return nil, fmt.Errorf("%s holds %d pods after %d sandboxes (%v)", side.network, have, k, err)
	}
	t1 := time.Now()
	if err := removeSandboxes(ctx, cri, ours); err != nil {
		return nil, err
	}
	if err := r.waitEmpty(ctx, side); err != nil {
		return nil, err
	}
	// The kubelet resumes before the barrier, so its catching up falls
	// in no sample.
	if err := resume(); err != nil {
		return nil, err
	}
	if err := r.cl.WaitNodes(ctx, true); err != nil {
		return nil, err
	}
	if err := r.settle(ctx); err != nil {
		return nil, err
	}
	r.criGone = append(r.criGone, time.Since(t1))
	return lat, nil
}
