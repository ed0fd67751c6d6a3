package deploy

import (
	"os"
	"strings"
	"testing"
)

// imageRepository is where the release images live; the tag is ../VERSION.
const imageRepository = "ghcr.io/vxbgp/vxbgp"

// imageRef is the image every manifest must name and make image must build.
func imageRef(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatalf("read the release version: %v", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" || strings.ContainsAny(v, " :/\n") {
		t.Fatalf("VERSION %q: want one version, e.g. 0.11.0", v)
	}
	return imageRepository + ":" + v
}

// need fails under CI=true and skips loudly elsewhere when a prerequisite
// is missing.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", what)
	}
	t.Skipf("SKIPPED: %s", what)
}
