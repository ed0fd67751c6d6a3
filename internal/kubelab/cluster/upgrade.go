package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout
// restart` sets: changing it rolls every pod of a DaemonSet.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// Agent is a client of the vxbgpd running on the node (a DaemonSet pod's
// or UseVxbgp's): its local API socket in the node's /run/vxbgp.
func (n *Node) Agent() *localapi.Client {
	return localapi.NewClient(filepath.Join(n.Dir, "host/run/vxbgp/vxbgp.sock"))
}

// PodSwap is one node's step of a DaemonSet rollout, as seen by polling
// the API every 200 ms (times are when a poll first saw the change).
type PodSwap struct {
	Node           string
	Old, New       string // pod names
	OldUID, NewUID types.UID
	Stopping       time.Time // the old pod was seen deleted or terminating
	Created        time.Time // the new pod was first seen
	Ready          time.Time // the new pod was first seen Ready
}

func (s PodSwap) String() string {
	return fmt.Sprintf("%s: %s -> %s: old stopping %s, new seen %s, ready %s", s.Node, s.Old, s.New,
		s.Stopping.Format("15:04:05.0"), s.Created.Format("15:04:05.0"), s.Ready.Format("15:04:05.0"))
}

// Rollout is what RollDaemonSet saw: when it changed the template, when
// the DaemonSet reported every pod updated and available, and each
// node's swap in the order the nodes were replaced.
type Rollout struct {
	Start, End time.Time
	Swaps      []PodSwap
}

// RollDaemonSet changes DaemonSet ns/name's pod template with edit (a new
// image, an annotation) and waits until the rollout is complete, as
// `kubectl rollout status` does: the controller saw the new generation,
// and every scheduled pod is updated and available. Every node's pod must
// have been replaced by a new one that is Ready.
func (c *Cluster) RollDaemonSet(ctx context.Context, ns, name string, timeout time.Duration,
	edit func(*corev1.PodTemplateSpec)) (Rollout, error) {
	dsc := c.Client.AppsV1().DaemonSets(ns)
	ds, err := dsc.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Rollout{}, fmt.Errorf("get daemonset %s/%s: %w", ns, name, err)
	}
	selector := metav1.FormatLabelSelector(ds.Spec.Selector)
	before, err := c.podsByNode(ctx, ns, selector)
	if err != nil {
		return Rollout{}, err
	}
	edit(&ds.Spec.Template)
	r := Rollout{Start: time.Now()}
	if ds, err = dsc.Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
		return r, fmt.Errorf("update daemonset %s/%s: %w", ns, name, err)
	}
	gen := ds.Generation
	swaps := map[string]*PodSwap{}
	for node, p := range before {
		swaps[node] = &PodSwap{Node: node, Old: p.Name, OldUID: p.UID}
	}
	err = c.poll(ctx, timeout, "daemonset "+name+" rolled out", func() (bool, error) {
		now := time.Now()
		pods, err := c.podsByNode(ctx, ns, selector)
		if err != nil {
			return false, nil
		}
		for node, s := range swaps {
			p, ok := pods[node]
			if s.Stopping.IsZero() && (!ok || p.UID != s.OldUID || p.DeletionTimestamp != nil) {
				s.Stopping = now
			}
			if ok && p.UID != s.OldUID {
				if s.NewUID != p.UID {
					s.New, s.NewUID, s.Created, s.Ready = p.Name, p.UID, now, time.Time{}
				}
				if s.Ready.IsZero() && podReady(p) {
					s.Ready = now
				}
			}
		}
		d, err := dsc.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if d.Status.ObservedGeneration < gen || !RolledDaemonSet(d) {
			return false, nil
		}
		for _, s := range swaps {
			if s.Ready.IsZero() {
				return false, nil
			}
		}
		return true, nil
	})
	r.End = time.Now()
	for _, s := range swaps {
		r.Swaps = append(r.Swaps, *s)
	}
	slices.SortFunc(r.Swaps, func(a, b PodSwap) int { return a.Stopping.Compare(b.Stopping) })
	return r, err
}

// RolledDaemonSet reports whether ds's status says a rollout is done.
func RolledDaemonSet(ds *appsv1.DaemonSet) bool {
	st := ds.Status
	return st.ObservedGeneration >= ds.Generation && st.UpdatedNumberScheduled == st.DesiredNumberScheduled &&
		st.NumberAvailable == st.DesiredNumberScheduled
}

// podsByNode maps each node to the pod of ns matching selector on it
// (the newest, should two overlap).
func (c *Cluster) podsByNode(ctx context.Context, ns, selector string) (map[string]*corev1.Pod, error) {
	l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list pods %s in %s: %w", selector, ns, err)
	}
	out := map[string]*corev1.Pod{}
	for i := range l.Items {
		p := &l.Items[i]
		if p.Spec.NodeName == "" {
			continue
		}
		if q, ok := out[p.Spec.NodeName]; ok && q.CreationTimestamp.After(p.CreationTimestamp.Time) {
			continue
		}
		out[p.Spec.NodeName] = p
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// SetImage sets every container's and init container's image in t whose
// image is from (compared without its tag) to image.
func SetImage(t *corev1.PodTemplateSpec, image string) {
	repo := func(ref string) string {
		if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			return ref[:i]
		}
		return ref
	}
	for _, cs := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for i := range cs {
			if repo(cs[i].Image) == repo(image) {
				cs[i].Image = image
			}
		}
	}
}

// Restart marks t as `kubectl rollout restart` does.
func Restart(t *corev1.PodTemplateSpec) {
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[RestartedAtAnnotation] = time.Now().Format(time.RFC3339Nano)
}
