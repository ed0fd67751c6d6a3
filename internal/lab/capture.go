package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Capture is a running tcpdump that prints decoded packets (tcpdump decodes
// VXLAN on port 4789 and the inner frame) to a buffer.
type Capture struct {
	done   chan struct{}
	stop   func() error
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// StartCapture starts `tcpdump -i iface filter` in ns and returns once
// tcpdump says it is listening, so no packet sent afterwards is missed.
func StartCapture(ctx context.Context, ns, iface, filter string) (*Capture, error) {
	c := &Capture{done: make(chan struct{})}
	// -l line-buffered, -nn no lookups, -Z root: tcpdump otherwise drops to
	// user tcpdump, which cannot enter our work dir (not needed here, but
	// keeps it from failing if a file is ever added).
	argv := nsArgv(ns, "tcpdump", "-l", "-nn", "-Z", "root", "-i", iface)
	argv = append(argv, strings.Fields(filter)...)
	cmd := transient(context.WithoutCancel(ctx), argv...)
	cmd.Stdout = lockedWriter{&c.mu, &c.stdout}
	cmd.Stderr = lockedWriter{&c.mu, &c.stderr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tcpdump on %s in %s: %w", iface, ns, err)
	}
	var werr error
	go func() {
		werr = cmd.Wait()
		close(c.done)
	}()
	c.stop = func() error {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-c.done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-c.done
			}
		}
		return nil
	}
	err := Eventually(ctx, "tcpdump listening on "+iface, pollFast, func(context.Context) (bool, error) {
		select {
		case <-c.done:
			return false, Permanent(fmt.Errorf("tcpdump exited: %v: %s", werr, c.stderrText()))
		default:
		}
		return strings.Contains(c.stderrText(), "listening on"), nil
	})
	if err != nil {
		_ = c.stop()
		return nil, err
	}
	return c, nil
}

// Stop ends the capture and returns the decoded packets, one line each
// (VXLAN-encapsulated frames take two lines: outer, then inner).
func (c *Capture) Stop() string {
	_ = c.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout.String()
}

// stderrText is tcpdump's stderr so far.
func (c *Capture) stderrText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// CountLines counts lines of out containing substr.
func CountLines(out, substr string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// WaitCount waits until at least n decoded lines contain substr; call it
// before Stop for the packets a test just caused, since tcpdump drops what
// it has not yet read from the kernel when interrupted.
func (c *Capture) WaitCount(ctx context.Context, substr string, n int) error {
	return Eventually(ctx, fmt.Sprintf("%d captured %q", n, substr), pollFast, func(context.Context) (bool, error) {
		c.mu.Lock()
		got := CountLines(c.stdout.String(), substr)
		c.mu.Unlock()
		return got >= n, fmt.Errorf("%d captured", got)
	})
}

// lockedWriter serializes writes to w under mu, which readers of w hold
// too: a command's stdout and stderr are written from two goroutines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
