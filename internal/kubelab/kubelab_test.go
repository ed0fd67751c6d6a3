package kubelab

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestControlPlane: a real etcd and kube-apiserver come up, store a Node,
// authenticate a second static-token user (who has no rights until RBAC
// grants some), serve a kubeconfig, and are gone after Stop.
func TestControlPlane(t *testing.T) {
	bin := Require(t)
	start := time.Now()
	cp := New(t, Options{Bin: bin, Users: []User{{Name: "someone"}}})
	t.Logf("TIMING kubelab warm start (etcd + kube-apiserver ready): %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}}}
	if _, err := admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(kc, "someone"); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	someone, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := someone.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("a user without RBAC rules read a node: err %v, want forbidden", err)
	}
	got, err := admin.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil || len(got.Spec.PodCIDRs) != 1 {
		t.Fatalf("get node: %v %v", got, err)
	}
	dir := cp.Dir
	cp.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind after Stop: %v", dir, err)
	}
}
