package localapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// transport is the client's http.RoundTripper: HTTP/1.1 over the API
// socket, each request written and its answer read on the caller's
// goroutine, on a connection kept for the next request once the answer
// was read to its end. http.Transport hands every request to two
// goroutines of the connection (a writer and a reader) and back through
// channels; for a short request on a local socket those hand-offs were
// most of what a PUT cost the caller (the bulk bench's 10,000 PUTs by 8
// callers on 2 cores). The requests and answers on the wire are the same.
type transport struct {
	dial    func(ctx context.Context) (net.Conn, error)
	maxIdle int

	mu   sync.Mutex
	idle []*tconn
}

// tconn is one connection with its buffers.
type tconn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// aLongTimeAgo is a deadline in the past: it makes blocked reads and
// writes on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip sends req and reads the answer's head; the answer's Body
// returns the connection to the idle list when read to its end and
// closed. A kept connection the agent closed meanwhile (it restarted)
// fails the request before any answer: the request is sent again, once,
// on a new connection (the API's requests are all idempotent), and the
// other kept connections are closed, since they went to the same agent:
// retrying on one of them would fail the same way (8 callers kept 8).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		var pc *tconn
		reused := false
		if attempt == 0 {
			pc, reused = t.get()
		}
		if pc == nil {
			c, err := t.dial(ctx)
			if err != nil {
				closeBody(req)
				return nil, err
			}
			pc = &tconn{c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
		}
		resp, err := t.exchange(ctx, pc, req)
		if err == nil {
			return resp, nil
		}
		pc.c.Close()
		if !reused || attempt > 0 || ctx.Err() != nil || (req.Body != nil && req.GetBody == nil) {
			closeBody(req)
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			return nil, err
		}
		t.CloseIdleConnections()
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, gerr
			}
			req = req.Clone(ctx)
			req.Body = body
		}
	}
}

// exchange writes req on pc and reads the answer's head. While it runs,
// and until the answer's body is closed, ctx ending unblocks the
// connection.
func (t *transport) exchange(ctx context.Context, pc *tconn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { pc.c.SetDeadline(aLongTimeAgo) })
	if err := req.Write(pc.bw); err != nil {
		stop()
		return nil, fmt.Errorf("write request: %w", err)
	}
	if err := pc.bw.Flush(); err != nil {
		stop()
		return nil, fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(pc.br, req)
	if err != nil {
		stop()
		return nil, fmt.Errorf("read answer: %w", err)
	}
	resp.Body = &tbody{ReadCloser: resp.Body, t: t, pc: pc, stop: stop, keep: !resp.Close, eof: resp.Body == http.NoBody}
	return resp, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// get takes an idle connection, if any.
func (t *transport) get() (*tconn, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.idle); n > 0 {
		pc := t.idle[n-1]
		t.idle = t.idle[:n-1]
		return pc, true
	}
	return nil, false
}

// put keeps pc for the next request, or closes it if enough are kept.
func (t *transport) put(pc *tconn) {
	t.mu.Lock()
	if len(t.idle) < t.maxIdle {
		t.idle = append(t.idle, pc)
		pc = nil
	}
	t.mu.Unlock()
	if pc != nil {
		pc.c.Close()
	}
}

// CloseIdleConnections closes the kept connections (http.Client calls
// it through its own CloseIdleConnections).
func (t *transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// tbody is an answer's body: closing it after reading it to its end
// keeps the connection.
type tbody struct {
	io.ReadCloser
	t    *transport
	pc   *tconn
	stop func() bool
	keep bool // the agent did not say it closes the connection
	eof  bool
	done bool
}

func (b *tbody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

// Close keeps the connection if the body was read to its end, the agent
// keeps it open too, and the request's context has not ended (its
// deadline may be set on the connection, or about to be). A body not
// read to its end closes the connection first, so that closing the body
// does not read the rest.
func (b *tbody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if b.stop() && b.eof && b.keep {
		if err := b.ReadCloser.Close(); err != nil {
			b.pc.c.Close()
			return err
		}
		b.t.put(b.pc)
		return nil
	}
	b.pc.c.Close()
	return b.ReadCloser.Close()
}
