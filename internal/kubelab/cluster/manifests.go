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

// DeployOptions say what Deploy applies.
type DeployOptions struct {
	Manifests string // deploy/kubernetes of the checkout
	ImageTar  string // make image's tarball (bin/vxbgp-image.tar)
	// Config, if set, returns the ConfigMap's config.yaml as the operator
	// edited it (given the shipped text).
	Config func(string) string
}

// Deploy deploys vxbgp as README's Install/Kubernetes says: the image
// imported into every node's containerd, then rbac.yaml, configmap.yaml
// and daemonset.yaml applied through deployOverlay (where a lab node
// differs from a real one). It waits until the DaemonSet is ready on
// every node and every Node is Ready (the agents wrote the conflist).
func (c *Cluster) Deploy(ctx context.Context, o DeployOptions) error {
	t0 := time.Now()
	for _, n := range c.Nodes {
		if err := n.Import(ctx, o.ImageTar); err != nil {
			return err
		}
	}
	u, err := url.Parse(c.CP.URL)
	if err != nil {
		return err
	}
	edit := deployOverlay(u.Hostname(), u.Port(), o.Config)
	for _, f := range []string{"rbac.yaml", "configmap.yaml", "daemonset.yaml"} {
		if err := kubelab.ApplyFileEdit(ctx, c.Client, filepath.Join(o.Manifests, f), edit); err != nil {
			return err
		}
	}
	ds := c.Client.AppsV1().DaemonSets("kube-system")
	if err := c.poll(ctx, 3*time.Minute, "DaemonSet vxbgp ready on every node", func() (bool, error) {
		d, err := ds.Get(ctx, "vxbgp", metav1.GetOptions{})
		return err == nil && d.Status.NumberReady == int32(len(c.Nodes)), nil
	}); err != nil {
		return err
	}
	if err := c.WaitNodes(ctx, true); err != nil {
		return fmt.Errorf("nodes not Ready once the agents wrote the conflist: %w", err)
	}
	c.logf("TIMING vxbgp deployed (image imported, manifests applied, DaemonSet ready, Nodes Ready): %s",
		time.Since(t0).Round(time.Millisecond))
	return nil
}

// deployOverlay is where a lab node differs from a real one (the same two
// changes as TestDaemonSet's overlay), plus the operator's config edit:
//   - no kube-proxy, so the kubernetes Service's ClusterIP leads nowhere:
//     the agent gets the API server's address directly (env
//     KUBERNETES_SERVICE_HOST/PORT, which client-go's in-cluster config
//     reads);
//   - Debian's reference plugins 1.1.1 (the portmap and bandwidth the
//     conflist chains) refuse cniVersion 1.1.0: the lab's says 1.0.0.
func deployOverlay(host, port string, config func(string) string) func(runtime.Object) error {
	return func(obj runtime.Object) error {
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			for k, v := range o.Data {
				switch {
				case strings.HasSuffix(k, ".conflist"):
					o.Data[k] = strings.Replace(v, `"cniVersion": "1.1.0"`, `"cniVersion": "1.0.0"`, 1)
				case k == "config.yaml" && config != nil:
					o.Data[k] = config(v)
				}
			}
		case *appsv1.DaemonSet:
			for i := range o.Spec.Template.Spec.Containers {
				ctr := &o.Spec.Template.Spec.Containers[i]
				ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: host},
					corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: port})
			}
		}
		return nil
	}
}
