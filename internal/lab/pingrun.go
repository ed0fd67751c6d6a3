package lab

import (
	"context"
	"fmt"
	"time"
)

// PingRun is a continuous ping running in the background, sent by the lab
// itself (no ping binary).
type PingRun struct {
	run *echoRun
}

// StartPing starts pinging ip from ns every interval, each answer awaited
// up to 1 s. The ping ends on Stop, at ctx's end, or after maxDur (a
// backstop so it cannot outlive a test).
func StartPing(ctx context.Context, ns, ip string, interval, maxDur time.Duration) (*PingRun, error) {
	r, err := startEcho(ctx, ns, ip, interval, time.Second, 0, maxDur)
	if err != nil {
		return nil, fmt.Errorf("start ping %s in %s: %w", ip, ns, err)
	}
	return &PingRun{run: r}, nil
}

// Replies is the number of requests answered so far.
func (p *PingRun) Replies() int { return p.run.answered() }

// WaitReplies waits until at least n requests have been answered in total.
func (p *PingRun) WaitReplies(ctx context.Context, n int) error { return p.run.waitReplies(ctx, n) }

// Stop ends the ping and returns its summary. Answers still due are
// awaited (up to 1 s), so a request in flight at Stop is not counted lost.
// Stop may be called again; it returns the same summary.
func (p *PingRun) Stop() (PingStats, error) {
	if err := p.run.stop(); err != nil {
		return PingStats{}, err
	}
	return p.run.stats(), nil
}
