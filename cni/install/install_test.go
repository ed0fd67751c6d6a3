package install

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestPluginReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src-vxbgp-cni")
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, src, "new plugin", 0o600) // the source's mode is not copied
	dst := filepath.Join(binDir, PluginName)
	writeFile(t, dst, "old plugin", 0o755)
	// A runtime holding the old binary open (as while executing it) keeps
	// reading the old content: the install replaces the name, not the file.
	old, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	// What a crashed install left behind, and another plugin.
	writeFile(t, filepath.Join(binDir, tempPrefix+"123"), "torn", 0o600)
	writeFile(t, filepath.Join(binDir, "bridge"), "other", 0o755)

	got, err := Plugin(src, binDir)
	if err != nil {
		t.Fatal(err)
	}
	if got != dst {
		t.Errorf("installed at %s, want %s", got, dst)
	}
	b, err := os.ReadFile(dst)
	if err != nil || string(b) != "new plugin" {
		t.Errorf("%s: %q, %v", dst, b, err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("%s: mode %v, %v; want 0755", dst, fi.Mode(), err)
	}
	oldData := make([]byte, 32)
	n, _ := old.Read(oldData)
	if string(oldData[:n]) != "old plugin" {
		t.Errorf("open old binary reads %q after the install, want the old content", oldData[:n])
	}
	if names := entries(t, binDir); !slices.Equal(names, []string{"bridge", PluginName}) {
		t.Errorf("bin dir holds %v: want the other plugin and ours, no temporary file", names)
	}

	// Installing again is a no-op in effect (the init container runs on
	// every pod start).
	if _, err := Plugin(src, binDir); err != nil {
		t.Fatal(err)
	}
	if names := entries(t, binDir); !slices.Equal(names, []string{"bridge", PluginName}) {
		t.Errorf("after a second install: %v", names)
	}
}

func TestPluginErrorsLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"missing source":    filepath.Join(dir, "nope"),
		"source not a file": dir,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Plugin(src, binDir)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), filepath.Join(binDir, PluginName)) {
				t.Errorf("error %q does not name the destination", err)
			}
			if names := entries(t, binDir); len(names) != 0 {
				t.Errorf("bin dir holds %v after a failed install", names)
			}
		})
	}
	if _, err := Plugin(os.Args[0], filepath.Join(dir, "no-such-dir")); err == nil {
		t.Error("install into a missing directory: no error")
	}
}

func TestUninstall(t *testing.T) {
	dir := t.TempDir()
	conflist := filepath.Join(dir, "10-vxbgp.conflist")
	writeFile(t, filepath.Join(dir, PluginName), "plugin", 0o755)
	writeFile(t, conflist, "{}", 0o644)
	writeFile(t, filepath.Join(dir, tempPrefix+"9"), "torn", 0o600)
	writeFile(t, filepath.Join(dir, "bridge"), "other", 0o755)

	removed, err := Uninstall(dir, conflist)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{conflist, filepath.Join(dir, PluginName)}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v (conflist first)", removed, want)
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"bridge"}) {
		t.Errorf("left %v, want only the other plugin", names)
	}
	// Nothing left to remove: not an error.
	if removed, err := Uninstall(dir, conflist); err != nil || len(removed) != 0 {
		t.Errorf("second uninstall: %v, %v", removed, err)
	}
}
