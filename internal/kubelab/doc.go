// Package kubelab runs a real Kubernetes control plane for tests: etcd
// (Debian's etcd-server) and kube-apiserver built from source through the
// Go module proxy, on loopback, with certificates, keys and tokens made
// here in Go. Build compiles the binaries once per version into a cache
// outside the checkout (DefaultCache, or $VXBGP_K8S_CACHE), under a lock;
// Start brings up a control plane and removes it when done.
//
// The recipe, and why each step is needed, is in
// ../shared/notes/kubernetes/RECIPE.md.
package kubelab
