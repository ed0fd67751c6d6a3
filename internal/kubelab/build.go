package kubelab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Version is the Kubernetes release the lab builds: the newest whose
// staging modules the module proxy serves in full and whose kubelet still
// runs on cgroup v1 (see ../shared/notes/kubernetes/RECIPE.md).
const Version = "v1.33.13"

// CacheEnv names a directory that replaces DefaultCache as the root of
// the binary cache.
const CacheEnv = "VXBGP_K8S_CACHE"

// DefaultCache is the root of the binary cache, outside every checkout:
// binaries live in <root>/<version>/bin, kept across runs.
const DefaultCache = "/var/cache/vxbgp/k8s"

// CacheDir is the cache directory of one version.
func CacheDir(version string) string {
	root := DefaultCache
	if r := os.Getenv(CacheEnv); r != "" {
		root = r
	}
	return filepath.Join(root, version)
}

// Build returns the directory holding the binaries of cmds (e.g.
// "kube-apiserver", "kube-controller-manager", "kubelet") of version,
// building those not yet in the cache from the Go module proxy. A lock
// file serialises builds of one version across processes: a second
// caller waits for the first and then reuses its binaries. logf (may be
// nil) hears about slow steps.
func Build(ctx context.Context, version string, logf func(format string, args ...any), cmds ...string) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir := CacheDir(version)
	bin := filepath.Join(dir, "bin")
	if missing(bin, cmds) == nil {
		return bin, nil
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("kubelab cache: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(dir, "build.lock"), logf)
	if err != nil {
		return "", err
	}
	defer unlock()
	todo := missing(bin, cmds) // another process may have built them meanwhile
	if todo == nil {
		return bin, nil
	}
	start := time.Now()
	logf("kubelab: building %s %v into %s (cold: minutes; cached afterwards)", version, todo, bin)
	src, err := prepareSource(ctx, dir, version)
	if err != nil {
		return "", err
	}
	if err := build(ctx, src, version, bin, todo); err != nil {
		return "", err
	}
	logf("kubelab: built %v in %s", todo, time.Since(start).Round(time.Second))
	return bin, nil
}

// missing lists the commands without a binary in bin.
func missing(bin string, cmds []string) []string {
	var out []string
	for _, c := range cmds {
		if _, err := os.Stat(filepath.Join(bin, c)); err != nil {
			out = append(out, c)
		}
	}
	return out
}

// lock takes an exclusive flock on path, waiting (while ctx lasts) for
// another process's build.
func lock(ctx context.Context, path string, logf func(string, ...any)) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kubelab lock: %w", err)
	}
	for said := false; ; said = true {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("kubelab lock %s: %w", path, err)
		}
		if !said {
			logf("kubelab: another process is building; waiting for %s", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// goCmd runs go with args in dir and returns its stdout. In the source
// tree (inModule) it builds in module mode, without workspace or vendor
// directory, static binaries; elsewhere (the proxy queries) it runs
// outside any module.
func goCmd(ctx context.Context, dir string, inModule bool, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOWORK=off", "GO111MODULE=on", "GOFLAGS=", "CGO_ENABLED=0")
	if inModule {
		cmd.Env = append(cmd.Env, "GOFLAGS=-mod=mod")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return out, nil
}

// prepareSource copies k8s.io/kubernetes@version out of the module cache
// into dir/src and rewrites its go.mod so it builds as a plain module: the
// module zip lacks staging/, so each staging replace points at the
// published k8s.io/X v0.<minor>.<patch> instead, and every third-party
// requirement is pinned to its own version (else the fallbacks' needs
// drag versions up and the build breaks). Done once per version.
func prepareSource(ctx context.Context, dir, version string) (string, error) {
	src := filepath.Join(dir, "src")
	if _, err := os.Stat(filepath.Join(src, ".prepared")); err == nil {
		return src, nil
	}
	out, err := goCmd(ctx, dir, false, "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	if err != nil {
		return "", err
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download k8s.io/kubernetes@%s: no directory in %q", version, out)
	}
	if err := os.RemoveAll(src); err != nil {
		return "", err
	}
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return "", fmt.Errorf("copy k8s.io/kubernetes source: %w", err)
	}
	for _, p := range []string{"vendor", "go.work", "go.work.sum"} {
		if err := os.RemoveAll(filepath.Join(src, p)); err != nil {
			return "", err
		}
	}
	gomod := filepath.Join(src, "go.mod")
	text, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	rewritten, err := rewriteGoMod(ctx, dir, string(text), "v0."+strings.TrimPrefix(version, "v1."))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(gomod, []byte(rewritten), 0o644); err != nil {
		return "", err
	}
	if _, err := goCmd(ctx, src, true, "mod", "download"); err != nil {
		return "", err
	}
	return src, os.WriteFile(filepath.Join(src, ".prepared"), nil, 0o644)
}

var (
	stagingReplace = regexp.MustCompile(`(?m)^\t(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+$`)
	requireLine    = regexp.MustCompile(`(?m)^\t(\S+) (v\S+)(?: // indirect)?$`)
)

// rewriteGoMod is prepareSource's go.mod rewrite; staging is the staging
// modules' published version (v0.33.13 for v1.33.13).
func rewriteGoMod(ctx context.Context, dir, text, staging string) (string, error) {
	var firstErr error
	var dropped []string
	text = stagingReplace.ReplaceAllStringFunc(text, func(line string) string {
		p := stagingReplace.FindStringSubmatch(line)[1]
		v, err := servedVersion(ctx, dir, p, staging)
		switch {
		case err != nil:
			firstErr = cmpErr(firstErr, err)
			return line
		case v == "":
			dropped = append(dropped, p) // not served: nothing we build needs it
			return ""
		}
		return fmt.Sprintf("\t%s => %s %s", p, p, v)
	})
	if firstErr != nil {
		return "", firstErr
	}
	for _, p := range dropped {
		text = regexp.MustCompile(`(?m)^\t`+regexp.QuoteMeta(p)+` v0\.0\.0\n`).ReplaceAllString(text, "")
	}
	replaced := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\t(\S+) =>`).FindAllStringSubmatch(text, -1) {
		replaced[m[1]] = true
	}
	var pins []string
	for _, m := range requireLine.FindAllStringSubmatch(text, -1) {
		if m[2] != "v0.0.0" && !replaced[m[1]] {
			pins = append(pins, fmt.Sprintf("\t%s => %s %s", m[1], m[1], m[2]))
		}
	}
	return strings.TrimRight(text, "\n") + "\n\nreplace (\n" + strings.Join(pins, "\n") + "\n)\n", nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// servedVersion is want when the proxy serves it for module p, else the
// highest plain v0.<minor>.x below it, else "".
func servedVersion(ctx context.Context, dir, p, want string) (string, error) {
	out, err := goCmd(ctx, dir, false, "list", "-m", "-versions", p)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", nil // the proxy does not serve the module at all
	}
	fields := strings.Fields(string(out))
	if len(fields) > 0 {
		fields = fields[1:]
	}
	if slices.Contains(fields, want) {
		return want, nil
	}
	minor := want[:strings.LastIndex(want, ".")+1]
	best, bestPatch := "", -1
	for _, v := range fields {
		patch, err := strconv.Atoi(strings.TrimPrefix(v, minor))
		if !strings.HasPrefix(v, minor) || err != nil {
			continue
		}
		if w, _ := strconv.Atoi(strings.TrimPrefix(want, minor)); patch <= w && patch > bestPatch {
			best, bestPatch = v, patch
		}
	}
	return best, nil
}

// build compiles cmds into bin: first into a temporary directory, then
// renamed into place, so a binary in bin is always whole.
func build(ctx context.Context, src, version, bin string, cmds []string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(bin), "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	minor := strings.SplitN(strings.TrimPrefix(version, "v1."), ".", 2)[0]
	ld := strings.Join([]string{"-s", "-w",
		"-X", "k8s.io/component-base/version.gitVersion=" + version,
		"-X", "k8s.io/component-base/version.gitMajor=1",
		"-X", "k8s.io/component-base/version.gitMinor=" + minor,
		"-X", "k8s.io/client-go/pkg/version.gitVersion=" + version}, " ")
	args := []string{"build", "-trimpath", "-ldflags", ld, "-o", tmp + "/"}
	for _, c := range cmds {
		args = append(args, "./cmd/"+c)
	}
	if _, err := goCmd(ctx, src, true, args...); err != nil {
		return fmt.Errorf("build kubernetes %s: %w", version, err)
	}
	for _, c := range cmds {
		if err := os.Rename(filepath.Join(tmp, c), filepath.Join(bin, c)); err != nil {
			return err
		}
	}
	return nil
}

// lastLines is the tail of a command's output, for error messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The commands of k8s.io/kubernetes the lab knows how to run.
const (
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Kubelet           = "kubelet"
	Scheduler         = "kube-scheduler"
)
