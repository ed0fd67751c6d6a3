package members

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// Every test host gossips on its own loopback address, 127.0.0.x, with a
// port the kernel picks: tests never need a fixed port.

const testASN = 64512

// meta is host x's metadata: 127.0.0.x, block 10.244.x.0/24.
func meta(name string, x int) Meta {
	return Meta{Name: name, Addr: netip.AddrFrom4([4]byte{127, 0, 0, byte(x)}), ASN: testASN, Mode: "overlay",
		Blocks: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(x), 0}), 24)}}
}

// host is a Discovery under test with the log it wrote.
type host struct {
	*Discovery
	log    *logRecorder
	cancel context.CancelFunc
	done   chan error
}

// start runs a Discovery until the test ends or stop is called, and
// returns once it is bound.
func start(t *testing.T, c Config) *host {
	t.Helper()
	rec := newRecorder(t)
	if c.Logger == nil {
		c.Logger = slog.New(rec)
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = time.Second // a partition heals within the test's patience
	}
	d, err := New(c)
	if err != nil {
		t.Fatalf("New %s: %v", c.Self.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &host{Discovery: d, log: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
	waitFor(t, 5*time.Second, c.Self.Name+" bound", func() bool {
		select {
		case err := <-h.done:
			t.Fatalf("Run %s: %v", c.Self.Name, err)
		default:
		}
		return d.Addr().IsValid()
	})
	return h
}

// stop ends Run, as an agent's shutdown does: no Leave.
func (h *host) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		t.Errorf("Run %s: %v", h.c.Self.Name, err)
	}
}

func (h *host) seed() string { return h.Addr().String() }

// states is what h sees, e.g. "a=alive b=dead".
func (h *host) states() string {
	var out []string
	for _, m := range h.Members() {
		out = append(out, m.Name+"="+m.State.String())
	}
	return strings.Join(out, " ")
}

func waitStates(t *testing.T, want string, hosts ...*host) {
	t.Helper()
	for _, h := range hosts {
		waitFor(t, 10*time.Second, h.c.Self.Name+" sees "+want, func() bool { return h.states() == want })
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timeout after %s waiting for %s", d, what)
		}
	}
}

// freePort reserves a port on ip for a host started later: what a seed
// that is down looks like until it starts.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logRecorder keeps every record's message and attributes as one line,
// and passes the records on to the test's log.
type logRecorder struct {
	next  slog.Handler
	attrs []slog.Attr
	mu    *sync.Mutex
	lines *[]string
}

func newRecorder(t *testing.T) *logRecorder {
	return &logRecorder{next: bgptest.Logger(t).Handler(), mu: &sync.Mutex{}, lines: &[]string{}}
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s", a); return true })
	r.mu.Lock()
	*r.lines = append(*r.lines, b.String())
	r.mu.Unlock()
	if r.next.Enabled(ctx, rec.Level) {
		return r.next.WithAttrs(r.attrs).Handle(ctx, rec)
	}
	return nil
}

func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), as...)
	return &c
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// has reports whether a line contains every one of parts.
func (r *logRecorder) has(parts ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range *r.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
