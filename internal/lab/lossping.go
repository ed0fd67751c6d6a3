package lab

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// LossPing is a continuous ping, sent by the lab itself (no ping
// binary), that records which requests were answered and when, so that
// lost requests can be counted and placed in time (to tell which step of a
// scenario lost them).
type LossPing struct {
	Interval time.Duration
	run      *echoRun
}

// StartLossPing pings ip from ns every interval, each answer awaited up to
// 1 s. It ends on Stop, at ctx's end, or after maxDur. ICMP errors (a
// "Destination Host Unreachable" while a route moves) only count as
// unanswered requests; they never end it.
func StartLossPing(ctx context.Context, ns, ip string, interval, maxDur time.Duration) (*LossPing, error) {
	r, err := startEcho(ctx, ns, ip, interval, time.Second, 0, maxDur)
	if err != nil {
		return nil, fmt.Errorf("start ping %s in %s: %w", ip, ns, err)
	}
	return &LossPing{Interval: interval, run: r}, nil
}

// Replies is the number of distinct requests answered so far.
func (p *LossPing) Replies() int { return p.run.answered() }

// WaitReplies waits until at least n requests have been answered.
func (p *LossPing) WaitReplies(ctx context.Context, n int) error { return p.run.waitReplies(ctx, n) }

// WaitFirstReply waits until a request is answered and returns when the
// first answer came (not the time of the wait).
func (p *LossPing) WaitFirstReply(ctx context.Context) (time.Time, error) {
	if err := p.WaitReplies(ctx, 1); err != nil {
		return time.Time{}, err
	}
	p.run.mu.Lock()
	defer p.run.mu.Unlock()
	var first time.Time
	for _, at := range p.run.replies {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, nil
}

// LossWindow is a run of consecutive unanswered requests.
type LossWindow struct {
	FromSeq, ToSeq int
	At             time.Time // estimated send time of FromSeq
}

// Lost is the number of requests in the window.
func (w LossWindow) Lost() int { return w.ToSeq - w.FromSeq + 1 }

// LossStats is a stopped LossPing's result.
type LossStats struct {
	PingStats              // requests sent and answered
	Windows   []LossWindow // unanswered requests, in order
}

// LostTime is the loss in time: lost requests times the interval.
func (s LossStats) LostTime(interval time.Duration) time.Duration {
	return time.Duration(s.Lost()) * interval
}

// Stop ends the ping and returns its summary and where the losses were.
// Answers still due are awaited (up to 1 s), so a request in flight at Stop
// is not counted lost. Stop may be called again; it returns the same.
func (p *LossPing) Stop() (LossStats, error) {
	if err := p.run.stop(); err != nil {
		return LossStats{}, err
	}
	st := p.run.stats()
	p.run.mu.Lock()
	defer p.run.mu.Unlock()
	return LossStats{PingStats: st, Windows: lossWindows(p.run.replies, st.Transmitted, p.Interval)}, nil
}

// lossWindows groups the sequence numbers 1..sent that have no reply into
// runs, each placed in time from the nearest answered request before it
// (or after it, for a run at the start).
func lossWindows(replies map[int]time.Time, sent int, interval time.Duration) []LossWindow {
	answered := make([]int, 0, len(replies))
	for s := range replies {
		answered = append(answered, s)
	}
	slices.Sort(answered)
	estimate := func(seq int) time.Time {
		i, _ := slices.BinarySearch(answered, seq)
		if i > 0 {
			prev := answered[i-1]
			return replies[prev].Add(time.Duration(seq-prev) * interval)
		}
		if i < len(answered) {
			next := answered[i]
			return replies[next].Add(-time.Duration(next-seq) * interval)
		}
		return time.Time{}
	}
	var out []LossWindow
	for seq := 1; seq <= sent; seq++ {
		if _, ok := replies[seq]; ok {
			continue
		}
		if n := len(out); n > 0 && out[n-1].ToSeq == seq-1 {
			out[n-1].ToSeq = seq
			continue
		}
		out = append(out, LossWindow{FromSeq: seq, ToSeq: seq, At: estimate(seq)})
	}
	return out
}
