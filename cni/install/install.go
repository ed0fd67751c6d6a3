// Package install puts the vxbgp-cni plugin binary on a node and takes it
// off again, without a shell: the image is FROM scratch, so the
// DaemonSet's init container runs `vxbgpctl install-cni` instead of cp.
//
// The container runtime may exec the plugin at any moment (a pod starting
// on the node while the DaemonSet rolls), so the binary is never written in
// place: it is copied to a temporary file in the destination directory,
// synced, made executable and renamed over the old one. A runtime sees the
// old binary or the new one, never a torn one, and a process already
// running the old one keeps its inode. A crash leaves at most a temporary
// file, which the next install removes.
//
// The conflist is not written here: the agent writes it once it is ready,
// so that pods are not sent to a plugin whose agent is not up.
package install

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// PluginName is the plugin's file name, the conflist's "type".
const PluginName = "vxbgp-cni"

// tempPrefix starts the temporary copies; runtimes only exec the names
// conflists give, so a leftover is harmless until the next install removes it.
const tempPrefix = "." + PluginName + ".tmp-"

// Plugin copies the binary at src to binDir/vxbgp-cni atomically, mode
// 0755, and returns the path it wrote.
func Plugin(src, binDir string) (string, error) {
	dst := filepath.Join(binDir, PluginName)
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("install %s: source %s is not a regular file", dst, src)
	}
	removeStale(binDir)

	tmp, err := os.CreateTemp(binDir, tempPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	success := false
	defer func() {
		if !success {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return "", fmt.Errorf("install %s: copy %s: %w", dst, src, err)
	}
	// Synced before the rename: after a power loss the name must not point
	// at a file whose data never reached the disk.
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	success = true
	if err := syncDir(binDir); err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	return dst, nil
}

// Uninstall removes the conflist (when not "") and then binDir/vxbgp-cni,
// in that order so that no runtime is left with a network whose plugin is
// gone. Files already absent are not an error. It returns what it removed.
func Uninstall(binDir, conflist string) ([]string, error) {
	var removed []string
	for _, p := range []string{conflist, filepath.Join(binDir, PluginName)} {
		if p == "" {
			continue
		}
		switch err := os.Remove(p); {
		case err == nil:
			removed = append(removed, p)
		case errors.Is(err, fs.ErrNotExist):
		default:
			return removed, fmt.Errorf("uninstall: %w", err)
		}
	}
	removeStale(binDir)
	return removed, nil
}

// removeStale removes temporary copies a crashed install left; best
// effort, they are never executed.
func removeStale(binDir string) {
	stale, _ := filepath.Glob(filepath.Join(binDir, tempPrefix+"*"))
	for _, p := range stale {
		os.Remove(p)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
