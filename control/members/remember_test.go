package members

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRememberFormat: the Remember file is written with its format
// version and read back; the first release's bare array reads as version
// 1; a newer version, or garbage, is not read, with a warning naming the
// file (a cache: the agent joins its seeds only, and rewrites the file).
func TestRememberFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "members.json")
	rec := newRecorder(t)
	d := &Discovery{c: Config{Remember: path}, log: slog.New(rec)}
	addrs := []string{"10.0.0.2:7946", "10.0.0.3:7946"}

	if err := writeRemembered(path, addrs); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"version":1,"members":["10.0.0.2:7946","10.0.0.3:7946"]}`+"\n" {
		t.Errorf("written: %s", b)
	}
	if got := d.remembered(); !slices.Equal(got, addrs) {
		t.Errorf("read back %q, want %q", got, addrs)
	}

	for _, tc := range []struct {
		name, content string
		want          []string
		warn          string
	}{
		{"first release's array", `["10.0.0.2:7946","10.0.0.3:7946"]`, addrs, ""},
		{"version 1", `{"version": 1, "members": ["10.0.0.2:7946"]}`, addrs[:1], ""},
		{"newer", `{"version": 2, "members": {"b": "10.0.0.2:7946"}}`, nil,
			path + ": format version 2 is newer than this vxbgp release supports (1)"},
		{"garbage", `{"members": 7}`, nil, path + ": json: cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := d.remembered(); !slices.Equal(got, tc.want) {
				t.Errorf("remembered %q, want %q", got, tc.want)
			}
			if tc.warn != "" && !rec.has("WARN remembered members not read; joining the seeds only", "file="+path, tc.warn) {
				t.Errorf("no warning with %q in %q", tc.warn, *rec.lines)
			}
		})
	}
}
