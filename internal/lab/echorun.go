package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// echoRun sends echo requests from a namespace at a fixed interval and
// records which were answered and when: what `ping` did for the lab, done
// by the harness itself, so no ping binary is needed. Ping, PingRun and
// LossPing are views of one echoRun.
//
// Requests are numbered from 1, as ping's icmp_seq. A request that could
// not be sent (no route, say) still takes its number and counts as
// transmitted, as ping counts it.
type echoRun struct {
	sock     *echoSocket
	interval time.Duration
	wait     time.Duration // how long answers are awaited after the last request
	count    int           // requests to send; 0: until stopped

	stopc    chan struct{} // closed by stop
	stopOnce sync.Once
	done     chan struct{} // closed once the socket is closed: the counts are final
	got      chan struct{} // a reply arrived (buffered, coalescing)

	mu      sync.Mutex
	sent    int
	replies map[int]time.Time // request number -> when its first answer was read
	dups    int
	sendErr error // the last failed send
	endErr  error // why the run ended before it was stopped, if it did
}

// startEcho opens a socket in ns towards ip and starts sending. The run
// ends after count requests (0: no limit) and their answers, on stop, at
// ctx's end, or after maxDur (0: no limit) of sending.
func startEcho(ctx context.Context, ns, ip string, interval, wait time.Duration, count int, maxDur time.Duration) (*echoRun, error) {
	sock, err := openEcho(ns, ip)
	if err != nil {
		return nil, err
	}
	r := &echoRun{sock: sock, interval: interval, wait: wait, count: count,
		stopc: make(chan struct{}), done: make(chan struct{}), got: make(chan struct{}, 1),
		replies: map[int]time.Time{}}
	recvDone := make(chan struct{})
	go r.receive(recvDone)
	go r.send(ctx, maxDur, recvDone)
	return r, nil
}

// receive records answers until the socket is closed.
func (r *echoRun) receive(done chan<- struct{}) {
	defer close(done)
	for {
		seq16, at, err := r.sock.recv()
		if err != nil {
			return
		}
		r.mu.Lock()
		// The wire carries 16 bits: take the latest request that ends so.
		seq := r.sent - int(uint16(r.sent)-seq16)
		if seq >= 1 {
			if _, dup := r.replies[seq]; dup {
				r.dups++
			} else {
				r.replies[seq] = at
			}
		}
		r.mu.Unlock()
		select {
		case r.got <- struct{}{}:
		default:
		}
	}
}

// send is the run's clock: one request per interval until the end, then
// the wait for the answers still due, then the socket is closed.
func (r *echoRun) send(ctx context.Context, maxDur time.Duration, recvDone <-chan struct{}) {
	defer close(r.done)
	var deadline <-chan time.Time
	if maxDur > 0 {
		t := time.NewTimer(maxDur)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		r.mu.Lock()
		r.sent++
		seq := r.sent
		r.mu.Unlock()
		if err := r.sock.send(seq); err != nil {
			r.mu.Lock()
			r.sendErr = err
			r.mu.Unlock()
		}
		if r.count > 0 && seq >= r.count {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-r.stopc:
		case <-deadline:
		case <-ctx.Done():
			r.end(ctx.Err())
		}
		break
	}
	r.awaitAnswers(ctx)
	r.sock.close()
	<-recvDone
}

// awaitAnswers waits until every request is answered or r.wait has passed
// since the last one, so that a request still on its way when the run is
// stopped is not counted lost.
func (r *echoRun) awaitAnswers(ctx context.Context) {
	t := time.NewTimer(r.wait)
	defer t.Stop()
	for {
		r.mu.Lock()
		all := len(r.replies) >= r.sent
		r.mu.Unlock()
		if all {
			return
		}
		select {
		case <-r.got:
		case <-t.C:
			return
		case <-ctx.Done():
			r.end(ctx.Err())
			return
		}
	}
}

// end records why the run ended early (the first reason only).
func (r *echoRun) end(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.endErr == nil {
		r.endErr = err
	}
}

// stop ends the run and waits until its counts are final.
func (r *echoRun) stop() error {
	r.stopOnce.Do(func() { close(r.stopc) })
	select {
	case <-r.done:
		return nil
	case <-time.After(r.wait + 5*time.Second):
		return errors.New("echo run did not stop")
	}
}

// ended reports whether the run is over, and how it ended.
func (r *echoRun) ended() (bool, error) {
	select {
	case <-r.done:
	default:
		return false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.endErr != nil:
		return true, r.endErr
	case r.sendErr != nil:
		return true, fmt.Errorf("ended (last send error: %w)", r.sendErr)
	}
	return true, errors.New("ended")
}

// stats is the summary ping printed: requests sent, requests answered.
func (r *echoRun) stats() PingStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return PingStats{Transmitted: r.sent, Received: len(r.replies)}
}

// answered is the number of distinct requests answered so far.
func (r *echoRun) answered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.replies)
}

// waitReplies waits until n requests are answered; a run that ends first
// fails it at once.
func (r *echoRun) waitReplies(ctx context.Context, n int) error {
	return Eventually(ctx, fmt.Sprintf("%d ping replies", n), pollSlow, func(context.Context) (bool, error) {
		if over, why := r.ended(); over && r.answered() < n {
			return false, Permanent(fmt.Errorf("ping ended with %d replies: %v", r.answered(), why))
		}
		got := r.answered()
		return got >= n, fmt.Errorf("%d replies", got)
	})
}
