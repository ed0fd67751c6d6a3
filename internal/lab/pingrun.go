package lab

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pingProc is a ping running in the background: what PingRun and
// LossPing share.
type pingProc struct {
	done chan struct{}
	err  error // ping's exit, valid once done is closed
	sig  func()
}

// start starts cmd with stdout and stderr to out (one writer: one pipe, so
// lines do not interleave); after maxDur, if not 0, ping gets SIGINT, as
// interrupt sends.
func (p *pingProc) start(cmd *exec.Cmd, out io.Writer, maxDur time.Duration) error {
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	p.sig = func() { _ = cmd.Process.Signal(syscall.SIGINT) }
	stopDeadline := func() bool { return false }
	if maxDur > 0 {
		stopDeadline = time.AfterFunc(maxDur, p.sig).Stop
	}
	go func() {
		p.err = cmd.Wait()
		stopDeadline()
		close(p.done)
	}()
	return nil
}

// waitReplies waits until replies() reaches n; a ping that ends first
// fails it at once, with detail() after its exit status.
func (p *pingProc) waitReplies(ctx context.Context, n int, replies func() int, detail func() string) error {
	return Eventually(ctx, fmt.Sprintf("%d ping replies", n), pollSlow, func(context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, Permanent(fmt.Errorf("ping ended: %v%s", p.err, detail()))
		default:
		}
		got := replies()
		return got >= n, fmt.Errorf("%d replies", got)
	})
}

// interrupt sends SIGINT and waits up to 5 s for ping to exit.
func (p *pingProc) interrupt() error {
	p.sig()
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("ping did not stop on SIGINT")
	}
}

// PingRun is a continuous ping running in the background.
type PingRun struct {
	pingProc
	mu  sync.Mutex
	out strings.Builder
}

// StartPing starts `ping -i interval ip` in ns. The ping ends on Stop, at
// ctx's end, or after maxDur (a backstop so it cannot outlive a test).
func StartPing(ctx context.Context, ns, ip string, interval, maxDur time.Duration) (*PingRun, error) {
	p := &PingRun{}
	cmd := transient(ctx, nsArgv(ns, "ping", "-n", "-i", fmt.Sprintf("%.3f", interval.Seconds()),
		"-W", "1", "-w", fmt.Sprintf("%d", int(maxDur.Seconds())), ip)...)
	if err := p.start(cmd, lockedWriter{&p.mu, &p.out}, 0); err != nil {
		return nil, fmt.Errorf("start ping %s in %s: %w", ip, ns, err)
	}
	return p, nil
}

// Replies is the number of echo replies so far.
func (p *PingRun) Replies() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Count(p.out.String(), " bytes from ")
}

// WaitReplies waits until at least n replies have arrived in total.
func (p *PingRun) WaitReplies(ctx context.Context, n int) error {
	return p.waitReplies(ctx, n, p.Replies, func() string { return ": " + abbrev(p.output()) })
}

// Stop interrupts the ping and returns its summary.
func (p *PingRun) Stop() (PingStats, error) {
	if err := p.interrupt(); err != nil {
		return PingStats{}, err
	}
	return parsePing(p.output())
}

// output is everything ping printed so far.
func (p *PingRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
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
