// Package deploy holds no code: its tests check what ships under deploy/.
// The Kubernetes manifests decode strictly into k8s.io/api types and agree
// with each other, with the image tag in ../VERSION and with the agent's
// config schema (manifests_test.go); `make image` builds an image that
// containerd and podman import and run (image_test.go).
package deploy
