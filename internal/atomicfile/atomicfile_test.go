package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// check reads dir: want is name -> content; no other file may be there
// (no temporary file left behind).
func check(t *testing.T, dir string, want map[string]string, perm os.FileMode) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("%s holds %d files, want %d: %v", dir, len(entries), len(want), entries)
	}
	for name, content := range want {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Errorf("%s = %q, %v; want %q", name, b, err, content)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != perm {
			t.Errorf("%s mode %v, %v; want %v", name, fi.Mode().Perm(), err, perm)
		}
	}
}

// TestWrite: new names and replaced ones, through the unnamed file and
// the named temporary one, under a umask that would strip the mode.
func TestWrite(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, tt := range []struct {
		name  string
		write func(dir, name string, data []byte, perm os.FileMode) error
	}{{"Write", Write}, {"writeNamed", writeNamed}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.write(dir, "a", []byte("one\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			check(t, dir, map[string]string{"a": "one\n"}, 0o644)
			if err := tt.write(dir, "a", []byte("two, longer\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tt.write(dir, "b", nil, 0o644); err != nil {
				t.Fatal(err)
			}
			check(t, dir, map[string]string{"a": "two, longer\n", "b": ""}, 0o644)
		})
	}
}

// TestWriteMissingDir: the error names the directory, and nothing is
// created.
func TestWriteMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	if err := Write(dir, "a", []byte("x"), 0o644); !os.IsNotExist(err) {
		t.Errorf("Write in a missing directory = %v, want a not-exist error", err)
	}
}
