package lab

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The health check finds what it must and nothing else.
func TestBadLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vxbgpd.log")
	log := `time=1 level=INFO msg="started"
time=2 level=ERROR msg="refused: wrong gossip key" component=members
time=3 level=ERROR msg="reconcile failed" err="file exists"
panic: runtime error: index out of range [3] with length 3
fatal error: concurrent map writes
time=4 level=WARN msg="ERROR in a message at warn level is fine"
`
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	allowed := []*regexp.Regexp{regexp.MustCompile(`wrong gossip key`)}
	got, err := badLines(path, allowed, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`time=3 level=ERROR msg="reconcile failed" err="file exists"`,
		"panic: runtime error: index out of range [3] with length 3", "fatal error: concurrent map writes"}
	if len(got) != len(want) {
		t.Fatalf("badLines = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
	// A host expected to exit may log errors, never panic.
	if got, _ := badLines(path, nil, true); len(got) != 2 {
		t.Errorf("errors allowed: %q, want the panic and the fatal error", got)
	}
	if got, err := badLines(filepath.Join(t.TempDir(), "none"), nil, false); err != nil || got != nil {
		t.Errorf("missing log: %q, %v", got, err)
	}
}
