package kube

import (
	"testing"

	"github.com/vxbgp/vxbgp/internal/kubelab"
)

// TestScenariosAPIServer runs the scenarios on a real kube-apiserver and
// etcd (internal/kubelab): the informer's list and watch as a cluster
// serves them.
func TestScenariosAPIServer(t *testing.T) {
	cp := kubelab.New(t, kubelab.Options{})
	client, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	scenarios(t, client)
}
