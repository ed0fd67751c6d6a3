package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestImage builds the image with `make image` and has both runtimes a
// node may run import it and run it: containerd (what the kubelet uses)
// through ctr, and podman. Each runs in throwaway directories of its own,
// so the host's runtimes, if any, are not touched.
func TestImage(t *testing.T) {
	need(t, os.Geteuid() == 0, "not root: containerd and podman need root to import and run the image")
	for _, tool := range []string{"make", "containerd", "ctr", "runc", "podman"} {
		_, err := exec.LookPath(tool)
		need(t, err == nil, tool+" not installed (apt-get install containerd podman, as .ci/run does)")
	}
	ref := imageRef(t)
	dir := t.TempDir()
	// Runs before TempDir's removal (cleanups run last-in first-out).
	t.Cleanup(func() { unmountUnder(t, dir) })

	bin := filepath.Join(dir, "bin")
	start := time.Now()
	out := runOK(t, "..", nil, "make", "-s", "image", "BIN="+bin)
	t.Logf("TIMING make image: %v\n%s", time.Since(start).Round(time.Millisecond), out)
	tarball := filepath.Join(bin, "vxbgp-image.tar")
	plugin, err := os.ReadFile(filepath.Join(bin, "vxbgp-cni"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("containerd", func(t *testing.T) { testContainerd(t, dir, tarball, ref, plugin) })
	t.Run("podman", func(t *testing.T) { testPodman(t, dir, tarball, ref) })
}

const containerdConfig = `version = 2
root = "%[1]s/root"
state = "%[1]s/state"
# ctr alone: no kubelet here, and the CRI plugin would want CNI and a pause image.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "%[1]s/containerd.sock"
[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
`

func testContainerd(t *testing.T, dir, tarball, ref string, plugin []byte) {
	ctd := filepath.Join(dir, "ctd")
	if err := os.MkdirAll(ctd, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(ctd, "config.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, containerdConfig, ctd), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("vxbgp-test-%d", os.Getpid())
	// Registered before containerd's stop, so it runs after it.
	t.Cleanup(func() { removeCgroups(t, ns) })
	startDaemon(t, filepath.Join(ctd, "containerd.log"), "containerd", "--config", cfg)
	sock := filepath.Join(ctd, "containerd.sock")
	ctr := func(args ...string) string {
		return runOK(t, dir, nil, "ctr", append([]string{"-a", sock, "-n", ns}, args...)...)
	}
	waitFor(t, 20*time.Second, "containerd answering on "+sock, func() bool {
		return exec.Command("ctr", "-a", sock, "version").Run() == nil
	})

	start := time.Now()
	ctr("images", "import", tarball)
	t.Logf("TIMING ctr images import: %v", time.Since(start).Round(time.Millisecond))
	if refs := strings.Fields(ctr("images", "ls", "-q")); !slices.Contains(refs, ref) {
		t.Fatalf("ctr images ls: %v, want %s", refs, ref)
	}

	id := fmt.Sprintf("vxbgp-test-%d", os.Getpid())
	if got := ctr("run", "--rm", ref, id+"-version", "/usr/local/bin/vxbgpd", "--version"); !strings.HasPrefix(got, "vxbgpd "+ref[strings.LastIndex(ref, ":")+1:]) {
		t.Errorf("vxbgpd --version in the image: %q", got)
	}
	// The DaemonSet's init container, exactly: no shell in the image.
	hostBin := filepath.Join(dir, "host-opt-cni-bin")
	if err := os.Mkdir(hostBin, 0o755); err != nil {
		t.Fatal(err)
	}
	ctr("run", "--rm", "--mount", "type=bind,src="+hostBin+",dst=/host/opt/cni/bin,options=rbind:rw",
		ref, id+"-install", "/usr/local/bin/vxbgpctl", "install-cni", "--bin-dir", "/host/opt/cni/bin")
	got, err := os.ReadFile(filepath.Join(hostBin, "vxbgp-cni"))
	if err != nil || !bytes.Equal(got, plugin) {
		t.Errorf("install-cni in the image: %s/vxbgp-cni: %d bytes (err %v), want the %d bytes of bin/vxbgp-cni", hostBin, len(got), err, len(plugin))
	}
	ctr("images", "rm", ref)
}

// removeCgroups removes the cgroups containerd made for namespace ns
// (/sys/fs/cgroup/<controller>/<ns>/..., or <ns>/... under cgroup v2),
// which outlive its containers and itself: deepest first, as only an
// empty cgroup can go.
func removeCgroups(t *testing.T, ns string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", ns))
	for _, top := range dirs {
		var all []string
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if err := os.Remove(all[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("remove containerd's cgroup: %v", err)
			}
		}
	}
}

const storageConf = `[storage]
driver = "overlay"
graphroot = "%[1]s/root"
runroot = "%[1]s/run"
`

// containersConf: cgroupfs and small ulimits because a sandbox without
// CAP_SYS_RESOURCE cannot raise RLIMIT_NOFILE to podman's rootful default.
const containersConf = `[network]
network_backend = "cni"
cni_plugin_dirs = ["%[1]s/cni"]
network_config_dir = "%[1]s/net.d"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%[1]s/events.log"
tmp_dir = "%[1]s/tmp"
runtime = "runc"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
`

func testPodman(t *testing.T, dir, tarball, ref string) {
	pm := filepath.Join(dir, "pm")
	for _, d := range []string{"cni", "net.d", "tmp"} {
		if err := os.MkdirAll(filepath.Join(pm, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(pm, "storage.conf"),
		"CONTAINERS_CONF=" + filepath.Join(pm, "containers.conf"),
	}
	if err := os.WriteFile(filepath.Join(pm, "storage.conf"), fmt.Appendf(nil, storageConf, pm), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pm, "containers.conf"), fmt.Appendf(nil, containersConf, pm), 0o600); err != nil {
		t.Fatal(err)
	}
	podman := func(args ...string) string { return runOK(t, dir, env, "podman", args...) }
	t.Cleanup(func() {
		// Storage of our own: removing every image there touches nothing else.
		if out, err := run(dir, env, "podman", "rmi", "-a", "-f"); err != nil {
			t.Logf("podman rmi -a -f: %v\n%s", err, out)
		}
	})

	start := time.Now()
	if out := podman("load", "-i", tarball); !strings.Contains(out, "Loaded image: "+ref) {
		t.Errorf("podman load: %q, want Loaded image: %s", out, ref)
	}
	t.Logf("TIMING podman load: %v", time.Since(start).Round(time.Millisecond))
	if refs := strings.Fields(podman("images", "--format", "{{.Repository}}:{{.Tag}}")); !slices.Contains(refs, ref) {
		t.Fatalf("podman images: %v, want %s", refs, ref)
	}
	// The entrypoint is vxbgpd.
	if got := podman("run", "--rm", "--network", "none", ref, "--version"); !strings.HasPrefix(got, "vxbgpd "+ref[strings.LastIndex(ref, ":")+1:]) {
		t.Errorf("podman run %s --version: %q", ref, got)
	}
	if out, err := run(dir, env, "podman", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", ref, "-c", "true"); err == nil {
		t.Errorf("/bin/sh ran in the image (want none, FROM scratch): %s", out)
	}
}

// startDaemon starts a process for the test's life and stops it (by its
// PID) at cleanup, printing its log if the test failed.
func startDaemon(t *testing.T, logPath, name string, args ...string) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
}

func run(dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func runOK(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unmountUnder detaches whatever a runtime left mounted below dir, deepest
// first, so that the directory can be removed.
func unmountUnder(t *testing.T, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Logf("unmount under %s: %v", dir, err)
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", m, err)
		}
	}
}
