package cluster

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeployOptions say what Deploy applies.
type DeployOptions struct {
	Manifests string // deploy/kubernetes of the checkout
	ImageTar  string // make image's tarball (bin/vxbgp-image.tar)
	// Config, if set, returns the ConfigMap's config.yaml as the operator
	// edited it (given the shipped text).
	Config func(string) string
}

// Deploy deploys vxbgp as README's Install/Kubernetes says, through
// DeployVxbgp, with the operator's config edit if o.Config is set.
func (c *Cluster) Deploy(ctx context.Context, o DeployOptions) error {
	t0 := time.Now()
	var edit func(runtime.Object) error
	if o.Config != nil {
		edit = func(obj runtime.Object) error {
			if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Data["config.yaml"] != "" {
				cm.Data["config.yaml"] = o.Config(cm.Data["config.yaml"])
			}
			return nil
		}
	}
	if err := c.DeployVxbgp(ctx, o.Manifests, o.ImageTar, edit); err != nil {
		return err
	}
	c.logf("TIMING vxbgp deployed (image imported, manifests applied, DaemonSet ready, Nodes Ready): %s",
		time.Since(t0).Round(time.Millisecond))
	return nil
}
