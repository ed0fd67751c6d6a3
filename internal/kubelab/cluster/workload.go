package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vxbgp/vxbgp/internal/ociimage"
)

// PodImage is the workload image: internal/kubelab/cmd/kubelab-pod as
// /kubelab-pod, which sleeps, and pings when exec'd with "ping IP...".
const PodImage = "kubelab.local/kubelab-pod:1"

// PodBinary is the workload image's binary, for Exec.
const PodBinary = "/kubelab-pod"

// WritePodImage packs binary (a static kubelab-pod) as PodImage into the
// OCI tarball path, for ImportAll.
func WritePodImage(path, binary string) error {
	data, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("pod image: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = ociimage.Write(f, ociimage.Image{Name: PodImage, OS: "linux", Arch: "amd64",
		Entrypoint: []string{PodBinary}, Files: []ociimage.File{{Path: PodBinary, Mode: 0o755, Data: data}}})
	if err != nil {
		return err
	}
	return f.Close()
}

// Workload is one running pod of a Deployment. It is a lab.Endpoint whose
// label is short (node and a letter: h1a, h1b, ...) for matrices; pings
// from it go through Exec (ExecPingMatrix), not a namespace.
type Workload struct {
	Name, Node, IP string
	Short          string
}

// Label, Netns and Addr make a Workload a lab.Endpoint.
func (w Workload) Label() string { return w.Short }
func (w Workload) Netns() string { return "" }
func (w Workload) Addr() string  { return w.IP }

// CreateDeployment creates Deployment default/name: replicas pods of
// PodImage labelled app=name, spread over the nodes by the scheduler, not
// pinned: a topology spread constraint on the hostname (maxSkew 1,
// DoNotSchedule) counting only nodes that take pods (nodeTaintsPolicy
// Honor: a cordoned or not-ready node is left out, so a drain's pods find
// room on the others). Pods stop within their grace period of 5 s
// (kubelab-pod exits on SIGTERM at once).
func (c *Cluster) CreateDeployment(ctx context.Context, name string, replicas int32) error {
	return c.createDeployment(ctx, name, replicas, PodImage, 5)
}

// createDeployment is CreateDeployment with image's single container and
// a grace period of grace seconds.
func (c *Cluster) createDeployment(ctx context.Context, name string, replicas int32, image string, grace int64) error {
	labels := map[string]string{"app": name}
	honor := corev1.NodeInclusionPolicyHonor
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, NodeTaintsPolicy: &honor,
					}},
					Containers: []corev1.Container{{Name: "pod", Image: image, ImagePullPolicy: corev1.PullNever}},
				},
			},
		},
	}
	if err := c.poll(ctx, time.Minute, "default service account", func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	if _, err := c.Client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s: %w", name, err)
	}
	return nil
}

// ScaleDeployment sets Deployment default/name's replicas.
func (c *Cluster) ScaleDeployment(ctx context.Context, name string, replicas int32) error {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if _, err := c.Client.AppsV1().Deployments("default").Patch(ctx, name, types.MergePatchType, patch,
		metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("scale deployment %s to %d: %w", name, replicas, err)
	}
	return nil
}

// WaitDeployment waits until Deployment default/name runs exactly its
// replicas, each Running and Ready with an IP, none terminating, and
// returns them sorted by node and name, labelled h1a, h1b, ...
func (c *Cluster) WaitDeployment(ctx context.Context, name string) ([]Workload, error) {
	var out []Workload
	var last string
	err := c.poll(ctx, 3*time.Minute, "deployment "+name+" rolled out", func() (bool, error) {
		d, err := c.Client.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		want := int(*d.Spec.Replicas)
		pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, nil
		}
		out = nil
		pending := 0
		for _, p := range pods.Items {
			switch {
			case p.DeletionTimestamp != nil:
				pending++ // terminating: the matrix must not see it
			case p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && podReady(&p):
				out = append(out, Workload{Name: p.Name, Node: p.Spec.NodeName, IP: p.Status.PodIP})
			default:
				pending++
			}
		}
		last = fmt.Sprintf("%d running of %d, %d pending or terminating", len(out), want, pending)
		return len(out) == want && pending == 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, last)
	}
	slices.SortFunc(out, func(a, b Workload) int {
		return strings.Compare(a.Node+"/"+a.Name, b.Node+"/"+b.Name)
	})
	for i := range out {
		k := 0
		for j := i - 1; j >= 0 && out[j].Node == out[i].Node; j-- {
			k++
		}
		out[i].Short = fmt.Sprintf("%s%c", out[i].Node, 'a'+k)
	}
	return out, nil
}

// DeleteDeployment deletes Deployment default/name with its ReplicaSets
// and pods (foreground: the Deployment goes last) and waits until no pod
// of it is left. A missing Deployment is no error.
func (c *Cluster) DeleteDeployment(ctx context.Context, name string) error {
	fg := metav1.DeletePropagationForeground
	err := c.Client.AppsV1().Deployments("default").Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete deployment %s: %w", name, err)
	}
	return c.poll(ctx, 2*time.Minute, "deployment "+name+" and its pods deleted", func() (bool, error) {
		pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(pods.Items) > 0 {
			return false, nil
		}
		_, err = c.Client.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// Legend lists the workloads one a line: label, pod, node, IP.
func Legend(ws []Workload) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "%-5s %-28s %-4s %s\n", w.Short, w.Name, w.Node, w.IP)
	}
	return b.String()
}
