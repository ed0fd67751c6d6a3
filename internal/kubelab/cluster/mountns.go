package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// HostPaths are the paths a node's DaemonSet pods reach as hostPath and
// that must differ per node: each node's mount namespace has a directory
// of its own bound over each (<node dir>/host/<path>).
var HostPaths = []string{"/opt/cni/bin", "/etc/cni/net.d", "/var/lib/vxbgp", "/run/vxbgp"}

// privateDir makes dir a private mount of itself: a mount namespace can
// be kept in a file (unshare --mount=FILE) only on a mount that does not
// propagate.
func privateDir(dir string) error {
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", dir, err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}

// mountPoints creates the HostPaths missing on this machine (empty
// directories, the bind mounts' targets) and returns those it created,
// for Stop to remove.
func mountPoints() ([]string, error) {
	var made []string
	for _, p := range HostPaths {
		// Walk up: record every directory level this call creates.
		var missing []string
		for d := p; d != "/"; d = filepath.Dir(d) {
			if _, err := os.Stat(d); err == nil {
				break
			}
			missing = append(missing, d)
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return made, err
		}
		made = append(made, missing...) // deepest first
	}
	return made, nil
}

// newMountNS creates node n's mount namespace, kept in n.Dir/mnt, with
// its own directory bound over each of HostPaths. containerd (and so
// every pod's hostPath) and the kubelet run in it.
func (n *Node) newMountNS(ctx context.Context) error {
	n.MountNS = filepath.Join(n.Dir, "mnt")
	if err := os.WriteFile(n.MountNS, nil, 0o644); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "unshare", "--mount="+n.MountNS, "--propagation", "private",
		"true").CombinedOutput(); err != nil {
		return fmt.Errorf("mount namespace of %s: %w: %s", n.Name, err, out)
	}
	for _, p := range HostPaths {
		src := filepath.Join(n.Dir, "host", p)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, "nsenter", "--mount="+n.MountNS, "mount", "--bind", src,
			p).CombinedOutput(); err != nil {
			return fmt.Errorf("bind %s over %s on %s: %w: %s", src, p, n.Name, err, out)
		}
	}
	return nil
}

// removeMountPoints removes the directories mountPoints made, if empty.
func removeMountPoints(made []string) error {
	var errs []error
	for _, d := range made {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
