package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunSpread creates Deployment name in the default namespace: perNode ×
// the nodes' count pause pods, spread by the scheduler as
// CreateDeployment's (no nodeName, no nodeSelector), and waits until each
// runs with an address. It returns the pods sorted by node, then name.
func (c *Cluster) RunSpread(ctx context.Context, name string, perNode int) ([]corev1.Pod, error) {
	replicas := int32(perNode * len(c.Nodes))
	if err := c.createDeployment(ctx, name, replicas, PauseImage, 0); err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	err := c.poll(ctx, 3*time.Minute, fmt.Sprintf("%d pods of deployment %s running", replicas, name), func() (bool, error) {
		l, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, nil
		}
		pods = pods[:0]
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				pods = append(pods, p)
			}
		}
		return len(pods) == int(replicas), nil
	})
	slices.SortFunc(pods, func(a, b corev1.Pod) int {
		return strings.Compare(a.Spec.NodeName+"/"+a.Name, b.Spec.NodeName+"/"+b.Name)
	})
	return pods, err
}

// DeleteSpread deletes Deployment name and its ReplicaSets, orphaning
// their pods (so that no controller replaces them meanwhile), then every
// pod of the default namespace, waiting until their sandboxes are torn
// down (DeletePods).
func (c *Cluster) DeleteSpread(ctx context.Context, name string) error {
	orphan := metav1.DeletePropagationOrphan
	opts := metav1.DeleteOptions{PropagationPolicy: &orphan}
	if err := c.Client.AppsV1().Deployments("default").Delete(ctx, name, opts); err != nil {
		return fmt.Errorf("delete deployment %s: %w", name, err)
	}
	if err := c.Client.AppsV1().ReplicaSets("default").DeleteCollection(ctx, opts,
		metav1.ListOptions{LabelSelector: "app=" + name}); err != nil {
		return fmt.Errorf("delete the replica sets of %s: %w", name, err)
	}
	return c.DeletePods(ctx)
}

// NodeByName is the cluster's node of that name, or nil.
func (c *Cluster) NodeByName(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// CPNetns is the network namespace of the control plane (the API server
// listens there, at CPAddr): kubectl run inside it (`ip netns exec`, or
// nsenter --net=/run/netns/NAME) reaches the cluster with Kubeconfig.
func (c *Cluster) CPNetns() string { return c.Lab.ID + "-cp" }
