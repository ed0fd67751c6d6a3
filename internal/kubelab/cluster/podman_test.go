package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// podman is podman 4.3 (Debian) with its CNI backend on one lab host, as
// ../shared/notes/runtime/RECIPE.md runs it: configured by environment
// (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF) with storage, run and tmp
// dirs of its own under dir, its CNI networks in NetDir, its plugins in
// binDir; each command runs in the host's network namespace (nsenter
// --net: `ip netns exec` would remount /sys and runc would then find no
// cgroups), so the plugins do too. Containers get a cgroup parent of the
// run's own (Cgroup), removed afterwards.
type podman struct {
	ns, dir string
	NetDir  string
	Cgroup  string
	env     []string
}

// podmanImage is the image containers run: kubelab-pause as /pause.
const podmanImage = "localhost/kubelab/pause:1"

// newPodman writes podman's config for host ns under dir and imports the
// pause binary as podmanImage.
func newPodman(ctx context.Context, ns, dir, binDir, cgroup, pause string) (*podman, error) {
	p := &podman{ns: ns, dir: dir, NetDir: filepath.Join(dir, "net.d"), Cgroup: cgroup}
	for _, d := range []string{p.NetDir, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// runc creates the cgroups below it; a new cpuset needs its parent's
	// cpus and mems first.
	if err := makeCgroup(cgroup); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`[network]
network_backend = "cni"
cni_plugin_dirs = [%q]
network_config_dir = %q

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
runtime = "runc"

[containers]
# root here lacks CAP_SYS_RESOURCE: podman's rootful default (1048576
# files) fails with "error setting rlimit type 7".
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
`, binDir, p.NetDir, filepath.Join(dir, "events.log"), filepath.Join(dir, "tmp"))
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	for name, text := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	p.env = append(os.Environ(), "CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(dir, "storage.conf"))
	bin, err := os.ReadFile(pause)
	if err != nil {
		return nil, err
	}
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if _, err := p.run(ctx, rootfs.Bytes(), "import", "-q", "--change", `ENTRYPOINT ["/pause"]`, "-", podmanImage); err != nil {
		return nil, err
	}
	return p, nil
}

// run runs podman with args (and stdin) in the host's namespace and
// returns its trimmed stdout.
func (p *podman) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + p.ns, "podman"}, args...)...)
	cmd.Env = p.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Run starts a container (podmanImage) named name on network (`podman
// run -d --network NAME`, through the network's CNI plugins) and returns
// it as an endpoint: its address on that network and its network
// namespace (podman's /run/netns/netns-<uuid>).
func (p *podman) Run(ctx context.Context, name, network string) (endpoint, error) {
	if _, err := p.run(ctx, nil, "run", "-d", "--name", name, "--network", network,
		"--cgroup-parent", p.Cgroup, podmanImage); err != nil {
		return endpoint{}, err
	}
	out, err := p.run(ctx, nil, "inspect", "-f",
		`{{.NetworkSettings.SandboxKey}} {{(index .NetworkSettings.Networks "`+network+`").IPAddress}}`, name)
	if err != nil {
		return endpoint{}, err
	}
	f := strings.Fields(out)
	if len(f) != 2 || !strings.HasPrefix(f[0], "/run/netns/") {
		return endpoint{}, fmt.Errorf("podman inspect %s: sandbox and address %q", name, out)
	}
	return endpoint{name: name, ns: strings.TrimPrefix(f[0], "/run/netns/"), ip: f[1]}, nil
}

// Close removes every container (`podman rm -f -t 0`: CNI DEL through the
// plugins) and the image, then the containers' cgroup parent; what podman
// mounted under dir goes with the cluster's work dir.
func (p *podman) Close(ctx context.Context) error {
	_, err := p.run(ctx, nil, "rm", "-a", "-f", "-t", "0")
	if _, ierr := p.run(ctx, nil, "rmi", "-a", "-f"); err == nil {
		err = ierr
	}
	if cerr := killCgroup(ctx, p.Cgroup); err == nil {
		err = cerr
	}
	if rerr := removeCgroup(p.Cgroup); err == nil {
		err = rerr
	}
	return err
}
