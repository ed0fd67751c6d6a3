// Package nstest gives privileged tests a fresh network namespace of their
// own, named uniquely per run and removed when the test ends, even when it
// fails.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/internal/netnsdo"
)

// Require skips the test when it cannot create namespaces (not root), with
// a loud reason; under CI=true it fails instead, because CI runs as root and
// a skipped privileged test there would hide a broken setup.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("privileged test needs root (CI=true, so this fails instead of skipping)")
	}
	t.Skipf("SKIPPED: privileged test needs root to create network namespaces; run as root or via make test")
}

// RequireTool is Require for an external program (tcpdump, vtysh, ...).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("test needs %s, which .ci/run installs: %v", name, err)
	}
	t.Skipf("SKIPPED: test needs %s (%v); .ci/run installs it", name, err)
	return ""
}

// UniqueName returns prefix plus a random suffix, short enough for netns
// and interface names (prefix + 6 hex digits).
func UniqueName(prefix string) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// New creates a named network namespace (visible to `ip netns`), brings its
// loopback up, and removes it when the test ends. It does not switch the
// calling thread into it.
func New(t testing.TB, prefix string) (netns.NsHandle, string) {
	t.Helper()
	Require(t)
	name := UniqueName(prefix)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	ns, err := netns.NewNamed(name) // switches this thread into ns
	// Restore the thread's namespace before unlocking it, or the Go runtime
	// would hand a thread in the wrong namespace to other goroutines.
	if serr := netns.Set(orig); serr != nil {
		panic(fmt.Sprintf("restore netns: %v", serr))
	}
	orig.Close()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", name, err, out)
	}
	return ns, name
}

// Do runs f on a locked OS thread switched into ns, and switches back.
func Do(ns netns.NsHandle, f func() error) error { return netnsdo.Do(ns, f) }

// IP runs `ip -n ns args...` and fails the test on error; it returns the output.
func IP(t testing.TB, ns string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"-n", ns}, args...)...)
}

// Run runs a command and fails the test on error; it returns the combined output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
