// Package kubelab runs a real Kubernetes control plane for tests: etcd
// (Debian's etcd-server) and kube-apiserver built from source through the
// Go module proxy, on loopback (or Options.Address, in the network
// namespace Options.Netns: clients of this process then dial from inside
// it), with certificates, keys and static tokens made here in Go. A whole
// cluster with nodes (containerd + kubelet per lab host) is in
// subpackage cluster.
//
//   - Build(ctx, Version, logf, cmds...) compiles kube-apiserver,
//     kube-controller-manager, kubelet, ... once per version into a cache
//     outside the checkout (DefaultCache, or $VXBGP_K8S_CACHE), under a
//     lock, and returns the directory; `make kubelab` runs it.
//   - Start(ctx, Options) brings up etcd and the API server and returns a
//     ControlPlane: its URL, PKI files, static-token Users, Config(user)
//     and WriteKubeconfig(path, user) for clients, PKI.Issue for more
//     certificates of its CA (kubelets' serving certificates), Spawn and
//     SpawnControllerManager for more processes, Stop for all of them.
//   - In tests, Require(t, cmds...) builds or skips (fails under CI=true),
//     and New(t, Options) starts a control plane removed when the test
//     ends; ApplyFile creates a manifest's objects; ServiceAccountUser is a
//     static-token user that RBAC takes for a service account.
//
// The recipe, and why each step is needed, is in
// ../shared/notes/kubernetes/RECIPE.md.
package kubelab
