package server

// vxbgp patch: a watcher's events wait in a queue of its own instead of an
// InfiniteChannel.
//
// v3.37.0 handed each event from the server's main loop to the watcher
// through an eapache InfiniteChannel: an unbuffered send to the channel's
// buffering goroutine, which passed it on to the watcher's loop goroutine
// through another unbuffered channel, which sent it on realCh. The main
// loop, the one goroutine that takes in every UPDATE, blocked on each
// event until the buffering goroutine ran: with 100,000 type-2 routes
// from a peer on a busy machine, an execution trace showed the main loop
// runnable but waiting for about a quarter of the time after such sends.
// Here the main loop appends to a slice under a mutex and signals, never
// waiting for another goroutine; the loop goroutine takes everything
// queued at once. The order of the events, the unbounded buffering and
// Stop's discarding of what is still queued are as before.

import "sync"

type watchQueue struct {
	mu     sync.Mutex
	items  []watchEvent
	closed bool
	ready  chan struct{} // a signal that items or closed changed
}

func newWatchQueue() *watchQueue {
	return &watchQueue{ready: make(chan struct{}, 1)}
}

// push queues ev; after close it does nothing.
func (q *watchQueue) push(ev watchEvent) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // a signal is pending: the taker will see ev too
	}
}

// close discards what is queued and ends take.
func (q *watchQueue) close() {
	q.mu.Lock()
	q.closed, q.items = true, nil
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take waits until events are queued and returns them all, in order,
// keeping spare (emptied) as the queue's next buffer; ok is false once
// the queue is closed.
func (q *watchQueue) take(spare []watchEvent) (evs []watchEvent, ok bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.items) > 0 {
			evs, q.items = q.items, spare[:0]
			q.mu.Unlock()
			return evs, true
		}
		q.mu.Unlock()
		<-q.ready
	}
}
