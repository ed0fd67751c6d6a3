package lab

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// LossPing is a continuous `ping -D` that records which sequence numbers
// were answered and when, so that lost requests can be counted and placed
// in time (to tell which step of a scenario lost them).
type LossPing struct {
	Interval time.Duration

	mu      sync.Mutex
	partial []byte
	replies map[int]time.Time // icmp_seq -> reply time (ping's -D stamp)
	summary string
	pingProc
}

// StartLossPing starts `ping -n -D -i interval -W 1 ip` in ns. It ends on
// Stop, at ctx's end, or after maxDur (a SIGINT, as Stop sends).
//
// Not `ping -w maxDur`: with a deadline set, iputils ping exits (status 0)
// at the first ICMP error it receives, e.g. one "Destination Host
// Unreachable" while a route moves, which ended pingers of TestModeSwitch
// half-way through now and then.
func StartLossPing(ctx context.Context, ns, ip string, interval, maxDur time.Duration) (*LossPing, error) {
	p := &LossPing{Interval: interval, replies: map[int]time.Time{}}
	cmd := transient(ctx, nsArgv(ns, "ping", "-n", "-D", "-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "1", ip)...)
	if err := p.start(cmd, lossOutput{p}, maxDur); err != nil {
		return nil, fmt.Errorf("start ping %s in %s: %w", ip, ns, err)
	}
	return p, nil
}

// lossOutput feeds ping's output to its LossPing.
type lossOutput struct{ p *LossPing }

func (o lossOutput) Write(b []byte) (int, error) { return o.p.write(b) }

var (
	// [1700000000.123456] 64 bytes from 10.244.2.2: icmp_seq=12 ttl=63 time=0.071 ms
	replyLine = regexp.MustCompile(`^\[(\d+)\.(\d+)\] \d+ bytes from .*icmp_seq=(\d+) `)
	dupMark   = []byte("(DUP!)")
)

// write parses ping's output line by line as it arrives.
func (p *LossPing) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := p.partial[:i]
		p.parseLine(line)
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

func (p *LossPing) parseLine(line []byte) {
	if pingSummary.Match(line) {
		p.summary = string(line)
		return
	}
	m := replyLine.FindSubmatch(line)
	if m == nil || bytes.Contains(line, dupMark) {
		return
	}
	sec, _ := strconv.ParseInt(string(m[1]), 10, 64)
	frac := string(m[2])
	for len(frac) < 9 {
		frac += "0"
	}
	nsec, _ := strconv.ParseInt(frac[:9], 10, 64)
	seq, _ := strconv.Atoi(string(m[3]))
	if _, ok := p.replies[seq]; !ok {
		p.replies[seq] = time.Unix(sec, nsec)
	}
}

// Replies is the number of distinct requests answered so far.
func (p *LossPing) Replies() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.replies)
}

// WaitReplies waits until at least n requests have been answered.
func (p *LossPing) WaitReplies(ctx context.Context, n int) error {
	return p.waitReplies(ctx, n, p.Replies, func() string { return "" })
}

// WaitFirstReply waits until a request is answered and returns when the
// first answer came (ping's -D stamp, not the time of the wait).
func (p *LossPing) WaitFirstReply(ctx context.Context) (time.Time, error) {
	if err := p.WaitReplies(ctx, 1); err != nil {
		return time.Time{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, at := range p.replies {
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
	PingStats              // ping's own summary
	Windows   []LossWindow // unanswered requests, in order
}

// LostTime is the loss in time: lost requests times the interval.
func (s LossStats) LostTime(interval time.Duration) time.Duration {
	return time.Duration(s.Lost()) * interval
}

// Stop interrupts the ping and returns its summary and where the losses
// were. The last request may be counted lost if its answer was still on the
// way when ping was interrupted.
func (p *LossPing) Stop() (LossStats, error) {
	if err := p.interrupt(); err != nil {
		return LossStats{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) > 0 {
		p.parseLine(p.partial)
		p.partial = nil
	}
	st, err := parsePing(p.summary)
	if err != nil {
		return LossStats{}, fmt.Errorf("ping ended (%v) without a summary: %w", p.err, err)
	}
	return LossStats{PingStats: st, Windows: lossWindows(p.replies, st.Transmitted, p.Interval)}, nil
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
