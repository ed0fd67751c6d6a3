package cniconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
)

// readSource reads the conflist to install and checks it: what the
// runtime's libcni would load, with a cniVersion and a vxbgp-cni plugin.
func readSource(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := Check(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// Check reports whether data is a CNI conflist (libcni's parse) with a
// cniVersion and a plugin of type vxbgp-cni.
func Check(data []byte) error {
	list, err := libcni.ConfListFromBytes(data)
	if err != nil {
		return fmt.Errorf("not a CNI conflist: %w", err)
	}
	if list.CNIVersion == "" {
		return errors.New("not a CNI conflist: no cniVersion")
	}
	for _, p := range list.Plugins {
		if p.Network.Type == PluginType {
			return nil
		}
	}
	var types []string
	for _, p := range list.Plugins {
		types = append(types, p.Network.Type)
	}
	b, _ := json.Marshal(types)
	return fmt.Errorf("no plugin of type %q in the conflist (plugins: %s)", PluginType, b)
}

// writeFile replaces path with data so that a reader sees the old content
// or the new, never a part: a temporary file in the same directory
// (rename is atomic within a file system only), fsynced so that a crash
// cannot leave an empty file under the final name, renamed over path.
// (internal/atomicfile skips the fsync, right for the agent's own state;
// this file is read by another program, the runtime, after a reboot too.)
// The temporary name starts with a dot and does not end in .conflist, so
// a runtime listing the directory meanwhile skips it. A missing directory
// is made, as the runtime would (a fresh node may have no
// /etc/cni/net.d yet).
func writeFile(path string, data []byte) (err error) {
	dir, name := filepath.Split(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(Mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename itself survives a crash once the directory is synced.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return rewrite(path, data)
}

// rewrite writes data over path's identical content, in place: a write
// event for the final name, while every read still sees the whole file.
// containerd 1.6's CRI reloads its CNI config on a write in the conf dir;
// in the cluster lab a conflist renamed into place was not picked up (the
// node stayed NotReady, "cni plugin not initialized") unless its reload,
// triggered by the temporary file's write, happened to come after the
// rename.
func rewrite(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
