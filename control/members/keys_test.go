package members

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func b64(b byte, n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n)) }

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		path string
		want []int  // key lengths
		err  string // else
	}{
		{"16 bytes", write("k16", b64(1, 16)+"\n", 0o600), []int{16}, ""},
		{"24 bytes, no newline", write("k24", b64(1, 24), 0o400), []int{24}, ""},
		{"32 bytes, group-readable", write("k32", b64(1, 32)+"\n", 0o640), []int{32}, ""},
		{"several, comments, blank lines, spaces", write("ring",
			"# rotation: new key first\n\n  "+b64(2, 32)+"  \n# the old one\n"+b64(1, 16)+"\n", 0o600), []int{32, 16}, ""},

		{"missing", filepath.Join(dir, "nope"), nil, "gossip key file " + dir + "/nope: missing"},
		{"in a missing directory", filepath.Join(dir, "nodir", "key"), nil, "/nodir/key: missing"},
		{"unreadable: a directory", dir, nil, dir + ": unreadable: a directory"},
		{"unreadable: under a file", filepath.Join(write("plain", "x", 0o600), "key"), nil, "/plain/key: unreadable: "},
		{"world-readable", write("open", b64(1, 32), 0o644), nil, "/open: world-readable (mode 0644)"},
		{"not base64", write("bad64", b64(1, 32)+"\n!!!\n", 0o600), nil, "/bad64: line 2: not base64"},
		{"wrong length", write("short", "# old\n"+b64(1, 20)+"\n", 0o600), nil, "/short: line 2: key is 20 bytes, want 16, 24 or 32"},
		{"twice", write("twice", b64(1, 16)+"\n"+b64(1, 16)+"\n", 0o600), nil, "/twice: line 2: the same key twice"},
		{"empty", write("empty", "", 0o600), nil, "/empty: no key"},
		{"comments only", write("comments", "# none yet\n\n", 0o600), nil, "/comments: no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := LoadKeys(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("LoadKeys = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lens []int
			for _, k := range keys {
				lens = append(lens, len(k))
			}
			if !slices.Equal(lens, tc.want) {
				t.Errorf("key lengths %v, want %v", lens, tc.want)
			}
		})
	}
}
