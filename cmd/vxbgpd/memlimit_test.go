package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/config"
)

// TestMemoryLimit: the agent starts with memoryLimit as the runtime's soft
// limit (the default when unset); GOMEMLIMIT in the environment wins; a bad
// value is exit 1 naming the key. Not parallel: the limit is the process's.
func TestMemoryLimit(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })
	limitAtStart := func(t *testing.T, cfgText string) (int64, string) {
		t.Helper()
		debug.SetMemoryLimit(math.MaxInt64)
		var got int64 = -1
		start := func(context.Context, *config.Config, *slog.Logger) error {
			got = debug.SetMemoryLimit(-1)
			return nil
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"--config", writeConfig(t, cfgText)}, &stdout, &stderr, "v1", start); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, &stderr)
		}
		return got, stderr.String()
	}
	t.Setenv("GOMEMLIMIT", "")
	if got, _ := limitAtStart(t, validConfig); got != 256<<20 {
		t.Errorf("default: limit %d, want 256MiB (%q)", got, config.DefaultMemoryLimit)
	}
	if got, _ := limitAtStart(t, validConfig+"memoryLimit: 1GiB\n"); got != 1<<30 {
		t.Errorf("memoryLimit: 1GiB: limit %d", got)
	}
	if got, _ := limitAtStart(t, validConfig+"memoryLimit: off\n"); got != math.MaxInt64 {
		t.Errorf("memoryLimit: off: limit %d, want none", got)
	}
	// The runtime read GOMEMLIMIT when the process started; setting it now
	// only tells run it is there, so run must leave the limit alone.
	t.Setenv("GOMEMLIMIT", "100MiB")
	got, stderr := limitAtStart(t, validConfig+"memoryLimit: 1GiB\n")
	if got != math.MaxInt64 || !strings.Contains(stderr, "memory limit from GOMEMLIMIT (memoryLimit ignored)") {
		t.Errorf("with GOMEMLIMIT: limit %d (want untouched), stderr:\n%s", got, stderr)
	}

	var stdout, errOut bytes.Buffer
	code := run(context.Background(), []string{"--config", writeConfig(t, validConfig+"memoryLimit: 2G\n")}, &stdout, &errOut, "v1", noStart(t))
	if want := `memoryLimit: must be a size like 256MiB (units B, KiB, MiB, GiB, TiB, as GOMEMLIMIT) or off, got "2G"`; code != 1 || strings.TrimSpace(errOut.String()) != want {
		t.Errorf("bad memoryLimit: exit %d, stderr %q; want 1 and %q", code, &errOut, want)
	}
}
