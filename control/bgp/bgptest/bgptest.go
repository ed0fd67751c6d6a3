// Package bgptest is test support for the tests that run control/bgp
// speakers: control/bgp's own, control/evpn's and control/routed's. Like
// net/http/httptest it is an ordinary package, imported by tests only.
//
// It starts speakers on loopback addresses at free ports and stops them
// when the test ends (Start), peers them (Connect, Speaker.Peer), records
// what their watches report (Watch, WatchUnicast), logs into the test
// (Logger), polls (WaitFor), runs things such as a Source until the test
// ends (Background) and re-executes the test binary as a child process
// whose exit closes its sessions the way an agent restart does
// (StartChild, RunChild). Fake is an in-memory speaker for the tests of
// what drives one (the sources, the agent): it checks their side of the
// speaker's contract.
//
// control/bgp's tests that use it are in package bgp_test, since this
// package imports control/bgp; they reach the internals they test through
// control/bgp/export_test.go.
//
// GoBGP v3 keeps route-selection options in package variables that every
// speaker's start writes and every route update reads: start all speakers
// of a test before any of them handles routes, and never run such tests in
// parallel (see bgp.New).
package bgptest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// ASN is the AS number of the test speakers, unless a test says otherwise:
// speakers started with it peer over iBGP.
const ASN = 64512

// SessionTimeout is how long tests wait for sessions to come up and for
// the routes to arrive.
const SessionTimeout = 20 * time.Second

// Logger returns a logger that writes into t's log (shown with -v or when
// the test fails), at level Warn, or Debug with VXBGP_TEST_LOG=debug.
// GoBGP's goroutines outlive the test (its Serve never returns in v3) and
// t.Log after the test panics, so it stops writing when the test ends.
func Logger(t testing.TB) *slog.Logger {
	lv := slog.LevelWarn
	if os.Getenv("VXBGP_TEST_LOG") == "debug" {
		lv = slog.LevelDebug
	}
	w := &tWriter{t: t}
	// Registered before any cleanup that stops what logs here, so that it
	// runs after them.
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// FreePort returns a TCP port that was free on ip a moment ago.
func FreePort(t testing.TB, ip string) int32 {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", ip, err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// WaitFor polls cond until it holds, and fails t if it does not within
// timeout; what says what it waited for.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Background runs run in a goroutine until stop is called or the test
// ends, and fails t if run returns an error; what names run in the
// message. stop cancels run's context and waits for it to return; it may
// be called more than once.
func Background(t testing.TB, what string, run func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", what, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// RunSource runs a source as the agent does: its Run, and a Watch of s
// feeding its handler, both until the test ends or stop is called (stop
// ends Run first, then the watch, before the speaker is stopped).
func RunSource(t testing.TB, name string, s *bgp.Speaker, h bgp.Handler, run func(context.Context) error) (stop func()) {
	t.Helper()
	stopWatch := Background(t, name+": Watch", func(ctx context.Context) error { return closedOK(s.Watch(ctx, h)) })
	stopRun := Background(t, name+": Run", run)
	return func() { stopRun(); stopWatch() }
}
