package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ImportAll imports an OCI image tarball into every node's containerd
// and records it: nodes AddNode adds later get it before their kubelet
// starts (a DaemonSet's pod never waits there for its image).
func (c *Cluster) ImportAll(ctx context.Context, tar string) error {
	for _, n := range c.Nodes {
		if err := n.Import(ctx, tar); err != nil {
			return err
		}
	}
	if !slices.Contains(c.images, tar) {
		c.images = append(c.images, tar)
	}
	return nil
}

// AddNode adds a lab host (lab.AddHost: the next hN on the underlay) and
// makes it a node like the others: containerd with the pause image and
// every ImportAll image, a kubelet registering Node hN. It returns once
// the Node has its podCIDR; it becomes Ready when its network is (a
// DaemonSet agent writes the conflist; with UseVxbgp's agents the caller
// starts n.Host and writes one). Stop removes it with the others.
func (c *Cluster) AddNode(ctx context.Context) (*Node, error) {
	t0 := time.Now()
	h, err := c.Lab.AddHost(ctx)
	if err != nil {
		return nil, err
	}
	n, err := c.startNode(ctx, h)
	if n != nil {
		c.Nodes = append(c.Nodes, n)
	}
	if err != nil {
		return nil, err
	}
	err = c.poll(ctx, 2*time.Minute, "node "+n.Name+" registered with a podCIDR", func() (bool, error) {
		obj, err := c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil || obj.Spec.PodCIDR == "" {
			return false, nil
		}
		n.PodCIDR = obj.Spec.PodCIDR
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	c.logf("kubelab: node %s added (podCIDR %s) in %s", n.Name, n.PodCIDR, time.Since(t0).Round(time.Millisecond))
	return n, nil
}

// DrainNode does what `kubectl drain --ignore-daemonsets` does: it
// cordons node n (spec.unschedulable) and evicts every pod on it through
// the Eviction API, except DaemonSet pods, then waits until they are
// gone (their kubelet stopped them and their sandboxes, so CNI DEL ran).
// Their controllers recreate them on the other nodes.
func (c *Cluster) DrainNode(ctx context.Context, n *Node) error {
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	if _, err := c.Client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch,
		metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cordon %s: %w", n.Name, err)
	}
	onNode := metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name}
	list, err := c.Client.CoreV1().Pods("").List(ctx, onNode)
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		if ownedByDaemonSet(&p) {
			continue
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		if err := c.Client.CoreV1().Pods(p.Namespace).EvictV1(ctx, ev); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("evict %s/%s from %s: %w", p.Namespace, p.Name, n.Name, err)
		}
	}
	return c.poll(ctx, 2*time.Minute, "pods evicted from "+n.Name, func() (bool, error) {
		l, err := c.Client.CoreV1().Pods("").List(ctx, onNode)
		if err != nil {
			return false, nil
		}
		for _, p := range l.Items {
			if !ownedByDaemonSet(&p) {
				return false, nil
			}
		}
		return true, nil
	})
}

func ownedByDaemonSet(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

// RemoveNode takes node n out of the cluster as an operator retires a
// machine after DrainNode: its kubelet and containerd stop and what still
// runs there (a DaemonSet's agent) is killed, as at power-off; then
// `kubectl delete node`. n leaves Nodes; its lab host (namespace) stays
// until Stop, unreachable for the cluster.
func (c *Cluster) RemoveNode(ctx context.Context, n *Node) error {
	i := slices.Index(c.Nodes, n)
	if i < 0 {
		return fmt.Errorf("remove node %s: not a node of this cluster", n.Name)
	}
	c.Nodes = slices.Delete(c.Nodes, i, i+1)
	c.removed = append(c.removed, n)
	err := n.stop(ctx)
	if derr := c.Client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
		err = errors.Join(err, fmt.Errorf("delete node %s: %w", n.Name, derr))
	}
	return err
}
