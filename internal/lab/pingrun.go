package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PingRun is a continuous ping running in the background.
type PingRun struct {
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error
	sig  func()
}

// StartPing starts `ping -i interval ip` in ns. The ping ends on Stop, at
// ctx's end, or after maxDur (a backstop so it cannot outlive a test).
func StartPing(ctx context.Context, ns, ip string, interval, maxDur time.Duration) (*PingRun, error) {
	p := &PingRun{done: make(chan struct{})}
	cmd := transient(ctx, nsArgv(ns, "ping", "-n", "-i", fmt.Sprintf("%.3f", interval.Seconds()),
		"-W", "1", "-w", fmt.Sprintf("%d", int(maxDur.Seconds())), ip)...)
	cmd.Stdout = lockedWriter{&p.mu, &p.out}
	cmd.Stderr = lockedWriter{&p.mu, &p.out}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ping %s in %s: %w", ip, ns, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	p.sig = func() { _ = cmd.Process.Signal(syscall.SIGINT) }
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
	return Eventually(ctx, fmt.Sprintf("%d ping replies", n), pollSlow, func(context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, Permanent(fmt.Errorf("ping ended: %v: %s", p.err, abbrev(p.output())))
		default:
		}
		got := p.Replies()
		return got >= n, fmt.Errorf("%d replies", got)
	})
}

// Stop interrupts the ping and returns its summary.
func (p *PingRun) Stop() (PingStats, error) {
	p.sig()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		return PingStats{}, fmt.Errorf("ping did not stop on SIGINT")
	}
	return parsePing(p.output())
}

// output is everything ping printed so far.
func (p *PingRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}
