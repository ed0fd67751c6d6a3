package kube

import (
	"path/filepath"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/internal/kubelab"
)

// TestScenariosAPIServer runs the scenarios on a real kube-apiserver and
// etcd (internal/kubelab), read through NewClient from a kubeconfig as
// vxbgpd reads it: the informer's list and watch as a cluster serves
// them.
func TestScenariosAPIServer(t *testing.T) {
	cp := kubelab.New(t, kubelab.Options{})
	client, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, kubelab.Admin); err != nil {
		t.Fatal(err)
	}
	source, err := NewClient(config.Kubernetes{Enabled: true, Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	scenarios(t, client, source)
}
