package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The init container's command line, then the uninstall an operator runs.
func TestInstallCNICommands(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "vxbgp-cni.build")
	if err := os.WriteFile(src, []byte("plugin"), 0o600); err != nil {
		t.Fatal(err)
	}
	binDir, confDir := filepath.Join(dir, "bin"), filepath.Join(dir, "net.d")
	for _, d := range []string{binDir, confDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conflist := filepath.Join(confDir, "10-vxbgp.conflist")
	ctl := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := ctl("install-cni", "--bin-dir", binDir, "--from", src)
	if code != 0 || out != "installed "+filepath.Join(binDir, "vxbgp-cni")+"\n" {
		t.Fatalf("install-cni: %d %q %q", code, out, errOut)
	}
	if fi, err := os.Stat(filepath.Join(binDir, "vxbgp-cni")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed plugin: %v %v", fi, err)
	}
	// The agent writes the conflist once ready; pretend it did.
	if err := os.WriteFile(conflist, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = ctl("uninstall-cni", "--bin-dir", binDir, "--conflist", conflist)
	want := "removed " + conflist + "\nremoved " + filepath.Join(binDir, "vxbgp-cni") + "\n"
	if code != 0 || out != want {
		t.Fatalf("uninstall-cni: %d %q %q, want %q", code, out, errOut, want)
	}
	if code, out, _ = ctl("uninstall-cni", "--bin-dir", binDir, "--conflist", conflist); code != 0 || out != "nothing to remove\n" {
		t.Errorf("second uninstall-cni: %d %q", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"install-cni", "--bin-dir", filepath.Join(dir, "missing"), "--from", src}, 1, "no such file"},
		{[]string{"install-cni", "--bin-dir", binDir, "--from", filepath.Join(dir, "missing")}, 1, "no such file"},
		{[]string{"install-cni", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"uninstall-cni", "extra"}, 2, "unexpected argument"},
		{[]string{"install-cni", "-h"}, 0, "-bin-dir"},
	} {
		code, _, errOut := ctl(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: %d %q, want %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}
