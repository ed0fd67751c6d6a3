package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// hiddenTools are what a bare host lacks and the demo must not need: the
// other tests' tools (captures, benchmarks, FRR, a reference GoBGP).
var hiddenTools = []string{"ping", "tcpdump", "iperf3", "vtysh", "nft", "gobgpd"}

// TestDemo runs the demo driver (`vxbgp-lab demo`, what make demo runs) as
// an operator would: as today, and, in overlay and routed mode, on a "bare
// host": in a private mount namespace where a stub that exits 127 is
// bind-mounted over every hiddenTools program on $PATH, so only Go's
// binaries, iproute2 and root are left. Each run must report every pair OK
// and say where to go next; a demo that still ran ping would fail its
// pairs.
func TestDemo(t *testing.T) {
	nstest.Require(t)
	requireBinaries(t)
	nstest.RequireTool(t, "unshare")
	nstest.RequireTool(t, "mount")
	demoBin := buildDemo(t)
	stub := filepath.Join(t.TempDir(), "hidden-tool")
	must(t, os.WriteFile(stub, []byte("#!/bin/sh\necho \"$0: hidden by TestDemo\" >&2\nexit 127\n"), 0o755))
	hide := toolPaths(hiddenTools)
	t.Logf("hiding %v (bind-mounting %s over each)", hide, stub)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// A demo killed before its own cleanup leaves a run with no live
		// owner: remove it (only such runs; live ones stay).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		removed, err := lab.CleanupStale(ctx, lab.StaleOptions{})
		t.Logf("after the failure: removed stale lab runs %v (err %v)", removed, err)
	})

	for _, tc := range []struct {
		name, mode string
		bare       bool
	}{
		{"as today", "overlay", false},
		{"bare host overlay", "overlay", true},
		{"bare host routed", "routed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 3*time.Minute)
			argv := []string{demoBin, "demo", "-bin", binaries.dir, "-mode", tc.mode}
			if tc.bare {
				argv = bareHost(argv, stub, hide)
			}
			out := runDemo(t, ctx, argv)
			if tc.bare {
				for _, tool := range hiddenTools {
					if !strings.Contains(out, "hidden: "+tool+"\n") {
						t.Errorf("%s was not hidden in the demo's mount namespace", tool)
					}
				}
			}
			checkDemoOutput(t, out, tc.name)
		})
	}

	// Without iproute2 on $PATH it must say so before it creates anything.
	t.Run("no iproute2", func(t *testing.T) {
		ctx := testCtx(t, time.Minute)
		cmd := exec.CommandContext(ctx, demoBin, "demo", "-bin", binaries.dir)
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "KEEP=")
		}), "PATH="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("demo without ip on $PATH exited 0:\n%s", out)
		}
		for _, want := range []string{"needs `ip`", "apt-get install iproute2"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("demo without ip on $PATH does not say %q:\n%s", want, out)
			}
		}
		if strings.Contains(string(out), "pairs OK") || strings.Contains(string(out), "lab vx") {
			t.Errorf("demo without ip on $PATH started anyway:\n%s", out)
		}
	})
}

// bareHost wraps argv: in a new private mount namespace, bind-mount stub
// over every path in hide, check that each hidden tool now fails, then
// exec argv. Nothing mounted there is seen outside, and it all goes when
// the demo exits.
func bareHost(argv []string, stub string, hide []string) []string {
	var sh strings.Builder
	sh.WriteString("set -e\n")
	for _, p := range hide {
		fmt.Fprintf(&sh, "mount --bind %s %s\n", strconv.Quote(stub), strconv.Quote(p))
	}
	sh.WriteString("set +e\n")
	for _, tool := range hiddenTools {
		// Run by name, through $PATH, as the lab would.
		fmt.Fprintf(&sh, "%s --version >/dev/null 2>&1; rc=$?\n", tool)
		fmt.Fprintf(&sh, "if [ $rc -ne 127 ]; then echo \"NOT HIDDEN: %s (exit $rc)\"; exit 99; fi\n", tool)
		fmt.Fprintf(&sh, "echo 'hidden: %s'\n", tool)
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = strconv.Quote(a)
	}
	sh.WriteString("exec " + strings.Join(quoted, " ") + "\n")
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", sh.String()}
}

// runDemo runs argv and returns its output (stdout and stderr), failing
// the test unless it exits 0. On the test's timeout the demo gets SIGINT,
// on which it removes its lab, as an operator's Ctrl-C would.
func runDemo(t *testing.T, ctx context.Context, argv []string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
	// KEEP=1 in the test's environment must not leave labs behind.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KEEP=") })
	start := time.Now()
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("demo failed (%v) after %v:\n%s", err, time.Since(start).Round(time.Millisecond), out)
	}
	t.Logf("TIMING: demo %v (start to exit, lab built and removed)", time.Since(start).Round(time.Millisecond))
	return out
}

var pairsOK = regexp.MustCompile(`(?m)^(\d+)/(\d+) pairs OK`)

// checkDemoOutput wants every pair of the matrix OK (3 hosts x 2 pods:
// 30 ordered pairs) and the pointers to what comes next.
func checkDemoOutput(t *testing.T, out, what string) {
	t.Helper()
	m := pairsOK.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no \"N/N pairs OK\" line in the demo's output:\n%s", what, out)
	}
	ok, total := m[1], m[2]
	if ok != total || total != "30" {
		t.Errorf("%s: %s/%s pairs OK, want 30/30:\n%s", what, ok, total, out)
	}
	for _, want := range []string{"Next:", "KEEP=1 make demo", "vxbgpctl --socket", "make demo-clean"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: the demo's output does not mention %q:\n%s", what, want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("%s: FAIL in the demo's output:\n%s", what, out)
	}
	t.Logf("%s: %s", what, m[0])
}

// toolPaths lists, with symlinks resolved and without repeats, every
// file that running one of tools by name could reach: each $PATH entry's
// copy, plus the sbin directories root's $PATH normally has.
func toolPaths(tools []string) []string {
	dirs := append(filepath.SplitList(os.Getenv("PATH")), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
	var out []string
	for _, tool := range tools {
		for _, d := range dirs {
			p, err := filepath.EvalSymlinks(filepath.Join(d, tool))
			if err != nil {
				continue
			}
			if fi, err := os.Stat(p); err != nil || fi.IsDir() || slices.Contains(out, p) {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

// buildDemo builds the demo driver from this tree into a directory of the
// test's own (bin/ could be stale), or takes it from VXBGP_BIN_DIR.
func buildDemo(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("VXBGP_BIN_DIR"); d != "" {
		if p := filepath.Join(d, "vxbgp-lab"); fileExists(p) {
			return p
		}
	}
	root, err := moduleRoot()
	must(t, err)
	out := filepath.Join(t.TempDir(), "vxbgp-lab")
	cmd := exec.Command("go", "build", "-o", out, "./e2e/cmd/vxbgp-lab")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("build vxbgp-lab: %v: %s", err, b)
		}
		t.Skipf("SKIPPED: vxbgp-lab does not build: %v: %s", err, b)
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
