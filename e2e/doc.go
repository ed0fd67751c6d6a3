// Package e2e holds the end-to-end scenarios: real vxbgpd, vxbgp-cni and
// vxbgpctl binaries on a multi-host lab of network namespaces (package
// internal/lab), with FRR as a third-party EVPN peer. The tests need root; run
// them with `go test ./e2e/ -v` (TestMain builds the binaries first).
package e2e
