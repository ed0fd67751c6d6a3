package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// binaries is where TestMain put freshly built binaries, and why any of
// them is missing. It is the one piece of package state: TestMain can hand
// nothing else to the tests.
var binaries struct {
	dir  string
	errs map[string]error
}

// TestMain builds vxbgpd, vxbgpctl and vxbgp-cni from this tree into a
// temporary directory, so the tests never run a stale bin/. VXBGP_BIN_DIR
// skips the build and uses binaries from that directory instead. Each
// binary is built on its own, so a test needing only vxbgpd can run while
// another command does not build yet.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binaries.errs = map[string]error{}
	if os.Geteuid() != 0 {
		// Every test here skips (or, under CI, fails) through nstest.Require.
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	// Leftovers of crashed runs only: live runs (a concurrent go test, a
	// KEEP=1 demo's daemons have no live owner and are removed) stay.
	if removed, err := lab.CleanupStale(ctx, lab.StaleOptions{}); err != nil || len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: removed stale lab runs %v (err: %v)\n", removed, err)
	}
	cancel()
	if d := os.Getenv("VXBGP_BIN_DIR"); d != "" {
		binaries.dir = d
		for _, b := range []string{lab.BinAgent, lab.BinCtl, lab.BinCNI} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				binaries.errs[b] = err
			}
		}
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "vxbgp-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The FRR user never runs these, but the host namespaces' processes must
	// be able to exec them.
	_ = os.Chmod(dir, 0o755)
	binaries.dir = dir
	start := time.Now()
	for _, b := range []string{lab.BinAgent, lab.BinCtl, lab.BinCNI} {
		binaries.errs[b] = build(dir, b)
		if binaries.errs[b] != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n", b, binaries.errs[b])
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: built binaries in %v\n", time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// build runs `go build -o dir/name ./cmd/name` in the module root.
func build(dir, name string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(gomod), nil
}
