package deploy

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree lists the files and symlinks under root with their modes, as
// "0755 /usr/local/bin/vxbgpd".
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, info.Mode().Perm().String()+" "+strings.TrimPrefix(path, root))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMakeInstall: make install DESTDIR= puts the binaries, the unit and
// the example config where the README says, with their modes; a second
// install replaces the binaries but keeps an edited config; uninstall
// removes what install put and keeps the config and the state dir unless
// PURGE=1.
func TestMakeInstall(t *testing.T) {
	_, err := exec.LookPath("make")
	need(t, err == nil, "make is not installed")
	bin, dest := t.TempDir(), t.TempDir()
	stubs := func(version string) {
		for _, b := range []string{"vxbgpd", "vxbgpctl", "vxbgp-cni"} {
			if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\necho "+b+" "+version+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-s", "-C", "..", "DESTDIR=" + dest, "BIN=" + bin}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dest, path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	stubs("v1")
	out := mk("install")
	want := []string{
		"-rw------- /etc/vxbgp/config.yaml",
		"-rw-r--r-- /etc/systemd/system/vxbgpd.service",
		"-rwxr-xr-x /opt/cni/bin/vxbgp-cni",
		"-rwxr-xr-x /usr/local/bin/vxbgpctl",
		"-rwxr-xr-x /usr/local/bin/vxbgpd",
	}
	got := tree(t, dest)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("installed tree:\n%s\nwant:\n%s\nmake said:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	if read("/etc/systemd/system/vxbgpd.service") != string(unit) {
		t.Error("the installed unit differs from deploy/systemd/vxbgpd.service with the default paths")
	}
	example, err := os.ReadFile("config/overlay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if read("/etc/vxbgp/config.yaml") != string(example) {
		t.Error("the installed config is not deploy/config/overlay.yaml")
	}
	for _, s := range []string{"conflist", "10-vxbgp"} {
		if strings.Contains(strings.Join(got, "\n"), s) {
			t.Errorf("make install installed a conflist: the agent writes it (cni.conflistDest)")
		}
	}

	// An upgrade: new binaries, the operator's config untouched.
	const edited = "# the operator's own\nnodeName: host-a\n"
	if err := os.WriteFile(filepath.Join(dest, "etc/vxbgp/config.yaml"), []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dest, "etc/vxbgp/config.yaml"), 0o640); err != nil {
		t.Fatal(err)
	}
	stubs("v2")
	out = mk("install")
	if read("/etc/vxbgp/config.yaml") != edited || !strings.Contains(out, "never overwritten") {
		t.Errorf("a second install changed the config or did not say it kept it:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dest, "etc/vxbgp/config.yaml")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("the operator's config mode changed: %v %v", fi.Mode(), err)
	}
	for _, b := range []string{"/usr/local/bin/vxbgpd", "/usr/local/bin/vxbgpctl", "/opt/cni/bin/vxbgp-cni"} {
		if !strings.Contains(read(b), " v2") {
			t.Errorf("%s not replaced by the second install", b)
		}
	}
	if got2 := tree(t, dest); len(got2) != len(want) {
		t.Errorf("after the second install (leftovers?):\n%s", strings.Join(got2, "\n"))
	}

	// Another prefix: the unit names the binary where it is.
	mk("install", "PREFIX=/opt/vxbgp")
	if u := read("/etc/systemd/system/vxbgpd.service"); !strings.Contains(u, "ExecStart=/opt/vxbgp/bin/vxbgpd --config /etc/vxbgp/config.yaml\n") {
		t.Errorf("PREFIX=/opt/vxbgp: the unit says:\n%s", u)
	}
	mk("uninstall", "PREFIX=/opt/vxbgp")

	// Uninstall keeps the config and the state; PURGE=1 removes them.
	state := filepath.Join(dest, "var/lib/vxbgp/networks.json")
	if err := os.MkdirAll(filepath.Dir(state), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	stubs("v1")
	mk("install")
	out = mk("uninstall")
	got = tree(t, dest)
	slices.Sort(got)
	if want := []string{"-rw-r----- /etc/vxbgp/config.yaml", "-rw-r--r-- /var/lib/vxbgp/networks.json"}; !slices.Equal(got, want) {
		t.Errorf("after uninstall:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out, "PURGE=1 removes them") {
		t.Errorf("uninstall does not say what it kept:\n%s", out)
	}
	mk("uninstall", "PURGE=1")
	if got := tree(t, dest); len(got) != 0 {
		t.Errorf("after uninstall PURGE=1:\n%s", strings.Join(got, "\n"))
	}
}
