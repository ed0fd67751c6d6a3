package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vxbgp/vxbgp/internal/netnsdo"
)

// RunPod creates pod name in the default namespace on node (through the
// scheduler: a nodeSelector on the hostname label, not nodeName), one
// pause container, and waits until it runs; it returns the pod's IP.
func (c *Cluster) RunPod(ctx context.Context, name string, node *Node) (string, error) {
	never := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "kubelab"}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": node.Name},
			TerminationGracePeriodSeconds: &never,
			Containers: []corev1.Container{{Name: "pause", Image: PauseImage,
				ImagePullPolicy: corev1.PullNever}},
		},
	}
	if err := c.poll(ctx, time.Minute, "default service account", func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return "", err
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create pod %s: %w", name, err)
	}
	var ip string
	err := c.poll(ctx, 2*time.Minute, "pod "+name+" running", func() (bool, error) {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != node.Name {
			return false, fmt.Errorf("pod %s scheduled on %s, want %s", name, p.Spec.NodeName, node.Name)
		}
		ip = p.Status.PodIP
		return p.Status.Phase == corev1.PodRunning && ip != "", nil
	})
	return ip, err
}

// DeletePods deletes every Deployment and pod of the default namespace
// and waits until the pods are gone (the kubelets tore their sandboxes
// down).
func (c *Cluster) DeletePods(ctx context.Context) error {
	zero := int64(0)
	// Deployments first, or their ReplicaSets would recreate the pods.
	fg := metav1.DeletePropagationForeground
	if err := c.Client.AppsV1().Deployments("default").DeleteCollection(ctx,
		metav1.DeleteOptions{PropagationPolicy: &fg}, metav1.ListOptions{}); err != nil {
		return err
	}
	pods := c.Client.CoreV1().Pods("default")
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		return err
	}
	// Gone from the API is not yet torn down: a grace period of 0 removes
	// the object at once. A sandbox's task ends after its CNI DEL
	// (StopPodSandbox), so no task left means every DEL ran.
	return c.poll(ctx, 2*time.Minute, "pods deleted and their sandboxes stopped", func() (bool, error) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) > 0 {
			return false, nil
		}
		for _, n := range c.Nodes {
			// The default namespace's containers only: DaemonSet pods
			// (kube-system) keep running.
			ours, err := n.ctr(ctx, "containers", "ls", "-q", `labels."io.kubernetes.pod.namespace"==default`)
			if err != nil {
				return false, nil
			}
			tasks, err := n.ctr(ctx, "tasks", "ls", "-q")
			if err != nil {
				return false, nil
			}
			for _, id := range ours {
				if slices.Contains(tasks, id) {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// PodNetns finds the network namespace holding ip among node's running
// containers (by their PIDs: the sandboxes' netns mounts live in the
// node's mount namespace) and links it as /run/netns/<lab id>-<name>, so
// lab.Ping and friends can use it by name. Stop removes the link.
func (c *Cluster) PodNetns(ctx context.Context, node *Node, ip, name string) (string, error) {
	out, err := node.ctr(ctx, "tasks", "ls")
	if err != nil {
		return "", err
	}
	want := net.ParseIP(ip)
	for i := 0; i+2 < len(out); i += 3 { // TASK PID STATUS
		pid, err := strconv.Atoi(out[i+1])
		if err != nil || out[i+2] != "RUNNING" {
			continue
		}
		h, err := netns.GetFromPid(pid)
		if err != nil {
			continue
		}
		found := false
		_ = netnsdo.Do(h, func() error {
			addrs, err := net.InterfaceAddrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.Equal(want) {
					found = true
				}
			}
			return err
		})
		h.Close()
		if !found {
			continue
		}
		link := c.Lab.ID + "-" + name
		if err := os.Symlink(fmt.Sprintf("/proc/%d/ns/net", pid), filepath.Join("/run/netns", link)); err != nil {
			return "", err
		}
		c.links = append(c.links, link)
		return link, nil
	}
	return "", errors.New("no pod netns on " + node.Name + " holds " + ip)
}
