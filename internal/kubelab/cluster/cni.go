package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// WaitNodes waits until every node's Node object has a podCIDR (filling
// Node.PodCIDR) and, with ready, the Ready condition.
func (c *Cluster) WaitNodes(ctx context.Context, ready bool) error {
	return c.poll(ctx, 3*time.Minute, "nodes registered, podCIDRs assigned, ready="+fmt.Sprint(ready), func() (bool, error) {
		for _, n := range c.Nodes {
			obj, err := c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil || obj.Spec.PodCIDR == "" {
				return false, nil
			}
			n.PodCIDR = obj.Spec.PodCIDR
			if ready && !nodeReady(obj) {
				return false, nil
			}
		}
		return true, nil
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// UseBridge gives every node the reference bridge + host-local conflist
// over its podCIDR (no routes between nodes: it proves the kubelet,
// containerd and CNI work, not the network).
func (c *Cluster) UseBridge() error {
	for _, n := range c.Nodes {
		conf := map[string]any{"cniVersion": "1.0.0", "name": "kubelab-bridge", "plugins": []any{map[string]any{
			"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
			"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": n.PodCIDR}}},
				"routes": []map[string]string{{"dst": "0.0.0.0/0"}}, "dataDir": filepath.Join(n.Dir, "ipam")},
		}}}
		if err := writeConflist(n, "10-bridge.conflist", conf); err != nil {
			return err
		}
	}
	return nil
}

// UseVxbgp replaces the bridge (its conflist and cni0) by vxbgp: it starts
// vxbgpd on every host (kubernetes.enabled: block, underlay and peers from
// the Nodes) and writes the vxbgp-cni conflist once the agents answer.
func (c *Cluster) UseVxbgp(ctx context.Context) error {
	for _, n := range c.Nodes {
		_ = os.Remove(filepath.Join(n.NetDir, "10-bridge.conflist"))
		if _, err := lab.IP(ctx, n.Host.NS, "link", "show", "cni0"); err == nil {
			if _, err := lab.IP(ctx, n.Host.NS, "link", "del", "cni0"); err != nil {
				return err
			}
		}
	}
	if err := c.Lab.StartAll(ctx); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		conf := map[string]any{"cniVersion": "1.0.0", "name": "vxbgp", "plugins": []any{map[string]any{
			"type": lab.BinCNI, "network": lab.NetworkName, "socket": n.Host.Socket, "stateDir": n.Host.StateDir,
		}}}
		if err := writeConflist(n, "10-vxbgp.conflist", conf); err != nil {
			return err
		}
	}
	return nil
}

// writeConflist writes the file in place, in one write: containerd 1.6
// reloads its CNI config on a WRITE event in conf_dir and does not notice
// a file renamed into it (measured: the Node then stays NotReady).
func writeConflist(n *Node, name string, conf any) error {
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.NetDir, name), b, 0o644)
}

// poll calls f every 200 ms until it says done, fails, or timeout passes.
func (c *Cluster) poll(ctx context.Context, timeout time.Duration, what string, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
