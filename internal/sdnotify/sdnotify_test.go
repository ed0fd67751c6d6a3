package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen is a service manager's socket at name (a path, or abstract with
// '@'); it returns the channel of the messages received.
func listen(t *testing.T, name string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	msgs := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

func TestNotify(t *testing.T) {
	for name, socket := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify"),
		"abstract": fmt.Sprintf("@vxbgp-sdnotify-%d-%d", os.Getpid(), time.Now().UnixNano()),
	} {
		t.Run(name, func(t *testing.T) {
			msgs := listen(t, socket)
			n := New(socket, 0)
			if err := n.Notify("READY=1", "STATUS=ready"); err != nil {
				t.Fatal(err)
			}
			if m := next(t, msgs); m != "READY=1\nSTATUS=ready\n" {
				t.Errorf("message %q", m)
			}
		})
	}
	if err := New("vsock:2:999", 0).Notify("READY=1"); err == nil || !strings.Contains(err.Error(), "only a path or an abstract") {
		t.Errorf("vsock socket: %v", err)
	}
	if err := New("@x", 0).Notify("STATUS=a\nREADY=1"); err == nil {
		t.Error("a line with a newline was sent")
	}
	var nilN *Notifier
	if err := nilN.Notify("READY=1"); err != nil || nilN.Watchdog() != 0 || nilN.Run(context.Background(), Health{}, nil) != nil {
		t.Error("a nil Notifier did something")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if FromEnv() != nil {
		t.Fatal("a Notifier without NOTIFY_SOCKET")
	}
	pid := fmt.Sprint(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		warn      bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", pid, 30 * time.Second, false},
		{"30000000", "1", 0, false}, // another process's watchdog
		{"0", "", 0, true},
		{"soon", "", 0, true},
	} {
		t.Setenv("NOTIFY_SOCKET", "@sock")
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		n := FromEnv()
		if n == nil || n.socket != "@sock" || n.Watchdog() != tc.want || (n.warning != nil) != tc.warn {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %+v, want watchdog %v warning %v", tc.usec, tc.pid, n, tc.want, tc.warn)
		}
	}
}

// Run: STATUS while starting, READY=1 with its STATUS once ready (once),
// WATCHDOG=1 every half period only while alive, STOPPING=1 at the end.
func TestRun(t *testing.T) {
	socket := fmt.Sprintf("@vxbgp-sdnotify-run-%d-%d", os.Getpid(), time.Now().UnixNano())
	msgs := listen(t, socket)
	var ready, alive atomic.Bool
	alive.Store(true)
	h := Health{
		Ready: func() error {
			if ready.Load() {
				return nil
			}
			return errors.New("synced=false")
		},
		Alive: func() error {
			if alive.Load() {
				return nil
			}
			return errors.New("reconciler loop stalled for 45s")
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(socket, 100*time.Millisecond).Run(ctx, h, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		<-done
	}()

	want := func(line string) string {
		t.Helper()
		var seen []string
		for {
			m := next(t, msgs)
			if strings.Contains(m, line) {
				return m
			}
			if strings.Contains(m, "READY=1") && line != "READY=1" {
				t.Fatalf("unexpected READY=1 while waiting for %q", line)
			}
			if seen = append(seen, m); len(seen) > 100 {
				t.Fatalf("no %q in %q", line, seen)
			}
		}
	}
	want("WATCHDOG=1")
	want("STATUS=starting: not ready yet: synced=false")
	for range 3 {
		want("WATCHDOG=1")
	}
	ready.Store(true)
	if m := want("READY=1"); m != "READY=1\nSTATUS=ready: every source reported and the kernel matches\n" {
		t.Errorf("READY message %q", m)
	}
	alive.Store(false)
	want("STATUS=unhealthy: reconciler loop stalled for 45s; watchdog pings stopped")
	deadline := time.After(500 * time.Millisecond) // five periods
	for quiet := false; !quiet; {
		select {
		case m := <-msgs:
			if strings.Contains(m, "WATCHDOG=1") || strings.Contains(m, "READY=1") {
				t.Fatalf("%q while not alive", m)
			}
		case <-deadline:
			quiet = true
		}
	}
	alive.Store(true)
	want("STATUS=ready") // within a poll
	want("WATCHDOG=1")
	cancel()
	if m := want("STOPPING=1"); !strings.HasPrefix(m, "STOPPING=1\nSTATUS=stopping") {
		t.Errorf("stop message %q", m)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
}

// An agent that synced but keeps failing a kernel operation has started:
// READY=1 (its start must not time out and be restarted in a loop), with a
// STATUS saying what is wrong.
func TestReadyOnceSynced(t *testing.T) {
	socket := fmt.Sprintf("@vxbgp-sdnotify-synced-%d-%d", os.Getpid(), time.Now().UnixNano())
	msgs := listen(t, socket)
	var synced atomic.Bool
	h := Health{
		Synced: synced.Load,
		Ready:  func() error { return errors.New("lastError=add fdb: file exists") },
		Alive:  func() error { return nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(socket, 0).Run(ctx, h, slog.New(slog.DiscardHandler)) }()
	if m := next(t, msgs); m != "STATUS=starting: not ready yet: lastError=add fdb: file exists\n" {
		t.Fatalf("first message %q", m)
	}
	synced.Store(true)
	if m := next(t, msgs); m != "READY=1\nSTATUS=not ready: lastError=add fdb: file exists\n" {
		t.Fatalf("once synced: %q, want READY=1 with the error as STATUS", m)
	}
	cancel()
	if m := next(t, msgs); !strings.HasPrefix(m, "STOPPING=1") {
		t.Fatalf("stop message %q", m)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
