package cluster

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/vxbgp/vxbgp/internal/kubelab"
)

// Manifests are deploy/kubernetes's files DeployVxbgp applies, in order.
var Manifests = []string{"rbac.yaml", "configmap.yaml", "daemonset.yaml"}

// DeployVxbgp deploys vxbgp as users do: the image tarball make image
// builds (imageTar) imported into every node's containerd (and every node
// AddNode adds later), then dir's Manifests (deploy/kubernetes) applied
// through LabOverlay and, if not nil, edit. It waits until the DaemonSet
// kube-system/vxbgp runs ready on every node and every Node is Ready (its
// agent wrote the conflist).
func (c *Cluster) DeployVxbgp(ctx context.Context, dir, imageTar string, edit func(runtime.Object) error) error {
	if err := c.ImportAll(ctx, imageTar); err != nil {
		return err
	}
	u, err := url.Parse(c.CP.URL)
	if err != nil {
		return err
	}
	overlay := LabOverlay(u.Hostname(), u.Port())
	for _, f := range Manifests {
		err := kubelab.ApplyFileEdit(ctx, c.Client, filepath.Join(dir, f), func(obj runtime.Object) error {
			if err := overlay(obj); err != nil {
				return err
			}
			if edit != nil {
				return edit(obj)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := c.WaitDaemonSet(ctx, "kube-system", "vxbgp"); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.WaitNodes(wctx, true); err != nil {
		return fmt.Errorf("nodes not Ready once the agents wrote the conflist: %w", err)
	}
	return nil
}

// WaitDaemonSet waits until DaemonSet namespace/name has rolled out: its
// controller saw the latest spec, and a pod of it runs updated and ready
// on every node of the cluster (DesiredNumberScheduled is the node count:
// a node added is waited for). After RemoveNode the status lags: the
// DaemonSet controller does not watch Node deletions, and counts the
// deleted node's pod until the pod garbage collector removes it (~40 s).
func (c *Cluster) WaitDaemonSet(ctx context.Context, namespace, name string) error {
	ds := c.Client.AppsV1().DaemonSets(namespace)
	var last string
	err := c.poll(ctx, 3*time.Minute, "DaemonSet "+namespace+"/"+name+" ready on every node", func() (bool, error) {
		d, err := ds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		s, want := d.Status, int32(len(c.Nodes))
		last = fmt.Sprintf("generation %d observed %d, desired %d updated %d ready %d, %d nodes",
			d.Generation, s.ObservedGeneration, s.DesiredNumberScheduled, s.UpdatedNumberScheduled, s.NumberReady, want)
		return s.ObservedGeneration >= d.Generation && s.DesiredNumberScheduled == want &&
			s.UpdatedNumberScheduled == want && s.NumberReady == want && s.NumberUnavailable == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, last)
	}
	return nil
}

// LabOverlay is where a lab node differs from a real one:
//   - no kube-proxy, so the kubernetes Service's ClusterIP (what in-cluster
//     clients dial) leads nowhere: the agent is told the API server's
//     address directly (env KUBERNETES_SERVICE_HOST/PORT, which client-go's
//     in-cluster config reads);
//   - Debian's reference plugins (containernetworking-plugins 1.1.1, the
//     portmap and bandwidth the conflist chains) speak CNI up to 1.0.0 and
//     refuse the shipped conflist's 1.1.0 ("incompatible CNI versions;
//     config is "1.1.0", plugin supports [... "1.0.0"]"): the lab's
//     conflist says 1.0.0.
func LabOverlay(host, port string) func(runtime.Object) error {
	return func(obj runtime.Object) error {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			for k, v := range cm.Data {
				if strings.HasSuffix(k, ".conflist") {
					cm.Data[k] = strings.Replace(v, `"cniVersion": "1.1.0"`, `"cniVersion": "1.0.0"`, 1)
				}
			}
			return nil
		}
		d, ok := obj.(*appsv1.DaemonSet)
		if !ok {
			return nil
		}
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			c.Env = append(c.Env, corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: host},
				corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: port})
		}
		return nil
	}
}
