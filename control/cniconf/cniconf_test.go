package cniconf

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/testlog"
)

func conflist(network string) []byte {
	return fmt.Appendf(nil, `{
  "cniVersion": "1.0.0",
  "name": "vxbgp",
  "plugins": [
    {"type": "vxbgp-cni", "network": %q, "socket": "/run/vxbgp/vxbgp.sock", "stateDir": "/var/lib/vxbgp"},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, network)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string // want: substring of the error; "" => valid
	}{
		{"sample", string(conflist("pods")), ""},
		{"chained", `{"cniVersion":"1.1.0","name":"x","plugins":[{"type":"ptp"},{"type":"vxbgp-cni","chained":true}]}`, ""},
		{"not JSON", `{"cniVersion":`, "not a CNI conflist: error parsing configuration list"},
		{"no name", `{"cniVersion":"1.0.0","plugins":[{"type":"vxbgp-cni"}]}`, "not a CNI conflist: error parsing configuration list: no name"},
		{"no cniVersion", `{"name":"x","plugins":[{"type":"vxbgp-cni"}]}`, "no cniVersion"},
		{"a single conf, not a list", `{"cniVersion":"1.0.0","name":"x","type":"vxbgp-cni"}`, `no plugin of type "vxbgp-cni" in the conflist (plugins: null)`},
		{"empty plugins", `{"cniVersion":"1.0.0","name":"x","plugins":[]}`, "no plugins in list"},
		{"another plugin", `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"}]}`, `no plugin of type "vxbgp-cni" in the conflist (plugins: ["bridge"])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.data))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewChecksSource(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conflist")
	os.WriteFile(bad, []byte(`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"}]}`), 0o644)
	for _, tc := range []struct{ src, want string }{
		{filepath.Join(dir, "missing.conflist"), "cni.conflistSource: open " + filepath.Join(dir, "missing.conflist") + ": no such file or directory"},
		{bad, "cni.conflistSource: " + bad + `: no plugin of type "vxbgp-cni"`},
	} {
		_, err := New(Config{Source: tc.src, Dest: filepath.Join(dir, "net.d", "10-vxbgp.conflist"), Ready: func() error { return nil }})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New(%s) = %v, want %s...", tc.src, err, tc.want)
		}
	}
}

// env is a source file, a destination in a net.d directory that does not
// exist yet, and a readiness the test switches.
type env struct {
	src, dst string
	ready    atomic.Bool
	asked    atomic.Int64 // calls of Ready
	logs     testlog.Buffer
	w        *Writer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{src: filepath.Join(dir, "config", "10-vxbgp.conflist"), dst: filepath.Join(dir, "host", "etc", "cni", "net.d", "10-vxbgp.conflist")}
	os.MkdirAll(filepath.Dir(e.src), 0o755)
	e.setSource(t, conflist("pods"))
	w, err := New(Config{
		Source: e.src, Dest: e.dst, Period: 5 * time.Millisecond,
		Ready: func() error {
			e.asked.Add(1)
			if !e.ready.Load() {
				return fmt.Errorf("synced=false")
			}
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(&e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.w = w
	return e
}

// setSource replaces the source the way a ConfigMap volume does: a new
// file renamed into place.
func (e *env) setSource(t *testing.T, data []byte) {
	t.Helper()
	tmp := e.src + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.src); err != nil {
		t.Fatal(err)
	}
}

// run runs the writer until the returned stop.
func (e *env) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// installed waits until dst holds want with mode 0644.
func (e *env) installed(t *testing.T, what string, want []byte) {
	t.Helper()
	waitFor(t, what, func() bool {
		got, err := os.ReadFile(e.dst)
		st, serr := os.Stat(e.dst)
		return err == nil && serr == nil && bytes.Equal(got, want) && st.Mode() == Mode
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// The life of the file: nothing before ready; then installed, put back
// after a deletion and after an edit, updated with its source, kept while
// the source is bad and when the agent turns unready, never removed at
// stop.
func TestWriter(t *testing.T) {
	e := newEnv(t)
	stop := e.run(t)

	waitFor(t, "a few passes while not ready", func() bool { return e.asked.Load() >= 5 })
	if _, err := os.Stat(e.dst); !os.IsNotExist(err) {
		t.Fatalf("conflist before the agent is ready: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(e.dst)); !os.IsNotExist(err) {
		t.Fatalf("net.d made before the agent is ready: %v", err)
	}

	e.ready.Store(true)
	e.installed(t, "the conflist once ready", conflist("pods"))
	waitFor(t, "the write counted", func() bool { return e.w.Writes() >= 1 }) // counted just after the rename
	if n := e.w.Writes(); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}

	if err := os.Remove(e.dst); err != nil {
		t.Fatal(err)
	}
	e.installed(t, "the conflist back after a deletion", conflist("pods"))

	os.WriteFile(e.dst, []byte(`{"cniVersion":"1.0.0","name":"someone-else"}`), 0o644)
	e.installed(t, "the conflist back after an edit", conflist("pods"))

	os.Chmod(e.dst, 0o600)
	e.installed(t, "the mode back", conflist("pods"))

	e.setSource(t, conflist("infra"))
	e.installed(t, "the new source installed", conflist("infra"))

	// Readiness is latched: a transient failure keeps the file maintained.
	e.ready.Store(false)
	os.Remove(e.dst)
	e.installed(t, "the conflist back while briefly unready", conflist("infra"))

	e.setSource(t, []byte(`{"cniVersion":"1.0.0","name":"vxbgp","plugins":[{"type":"bridge"}]}`))
	waitFor(t, "the bad source logged", func() bool { return strings.Contains(e.logs.String(), "no plugin of type") })
	if got, _ := os.ReadFile(e.dst); !bytes.Equal(got, conflist("infra")) {
		t.Fatalf("a bad source replaced the installed conflist:\n%s", got)
	}
	e.setSource(t, conflist("pods"))
	e.installed(t, "the fixed source installed", conflist("pods"))

	stop()
	if got, err := os.ReadFile(e.dst); err != nil || !bytes.Equal(got, conflist("pods")) {
		t.Fatalf("after stop the conflist is %q, %v: it must stay", got, err)
	}
	if n := strings.Count(e.logs.String(), "no plugin of type"); n != 1 {
		t.Errorf("the bad source logged %d times, want once:\n%s", n, e.logs.String())
	}
	entries, _ := os.ReadDir(filepath.Dir(e.dst))
	if len(entries) != 1 {
		t.Errorf("net.d holds %d files, want only the conflist: %v", len(entries), entries)
	}
}

// A reader that reads the file at any moment, as the runtime does, sees
// a whole conflist, never a part, while the writer keeps replacing it
// with a source that changes size.
func TestWriterAtomic(t *testing.T) {
	e := newEnv(t)
	e.ready.Store(true)
	// Big, so that a plain rewrite would be seen half-done.
	big := func(n int, fill string) []byte {
		return fmt.Appendf(nil, `{"cniVersion":"1.0.0","name":"vxbgp","plugins":[{"type":"vxbgp-cni","pad":%q}]}`, strings.Repeat(fill, n))
	}
	a, b := big(256<<10, "a"), big(16<<10, "b")
	e.setSource(t, a)
	e.run(t)
	e.installed(t, "the first conflist", a)

	var torn, reads atomic.Int64
	stopRead := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopRead:
				return
			default:
			}
			got, err := os.ReadFile(e.dst)
			reads.Add(1)
			if err != nil || !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				torn.Add(1)
			}
		}
	}()
	for i := range 10 {
		next := a
		if i%2 == 0 {
			next = b
		}
		e.setSource(t, next)
		e.installed(t, fmt.Sprintf("rewrite %d", i), next)
	}
	close(stopRead)
	wg.Wait()
	if torn.Load() != 0 {
		t.Errorf("%d of %d reads saw a missing or partial conflist", torn.Load(), reads.Load())
	}
	t.Logf("%d writes, %d reads", e.w.Writes(), reads.Load())
}
