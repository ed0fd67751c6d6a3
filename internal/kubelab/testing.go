package kubelab

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// BuildTimeout bounds a cold build inside a test (CI builds in a step of
// its own first: internal/kubelab/cmd/kubelab-build).
const BuildTimeout = 15 * time.Minute

// Require returns the directory of the built cmds (default:
// kube-apiserver), building them if needed. When they cannot be had, or
// etcd is missing, the test fails under CI=true and is skipped loudly
// elsewhere.
func Require(t testing.TB, cmds ...string) string {
	t.Helper()
	if len(cmds) == 0 {
		cmds = []string{APIServer}
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		unavailable(t, "etcd (apt-get install etcd-server; .ci/run installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	bin, err := Build(ctx, Version, t.Logf, cmds...)
	if err != nil {
		unavailable(t, "kubernetes %s %v could not be built: %v", Version, cmds, err)
	}
	return bin
}

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("real API server unavailable (CI=true, so this fails): "+format, args...)
	}
	t.Skipf("SKIPPED: real API server unavailable: "+format, args...)
}

// New starts a control plane for the test (Require first, unless o.Bin is
// set) and stops it when the test ends, failed or not; a failed test gets
// the tail of both logs.
func New(t testing.TB, o Options) *ControlPlane {
	t.Helper()
	if o.Bin == "" {
		o.Bin = Require(t)
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("kubelab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log (tail):\n%s", tail(cp.APIServerLog))
			t.Logf("etcd log (tail):\n%s", tail(cp.EtcdLog))
		}
		cp.Stop()
	})
	return cp
}
