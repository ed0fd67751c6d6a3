package ndproxy

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// opener hands the Responder sockets that need no privilege: one end of a
// datagram socket pair (it receives nothing, as a packet socket on a quiet
// host), or, with broken set, the read end of a pipe, on which receiving
// fails at once.
type opener struct {
	t      *testing.T
	mu     sync.Mutex
	opens  int
	broken bool
	fail   error
	peer   int // the other end of the last socket pair
}

func (o *opener) open() (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return -1, o.fail
	}
	o.opens++
	if o.broken {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			o.t.Fatalf("pipe: %v", err)
		}
		o.t.Cleanup(func() { unix.Close(p[1]) })
		return p[0], nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		o.t.Fatalf("socketpair: %v", err)
	}
	o.peer = fds[1]
	o.t.Cleanup(func() { unix.Close(fds[1]) })
	return fds[0], nil
}

// isOpen reports whether the Responder's end of the last socket pair is
// still open: writing to the peer of a closed datagram socket is refused.
func (o *opener) isOpen() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := unix.Write(o.peer, []byte{0})
	return err == nil
}

func (o *opener) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opens
}

func bridge(name string, index int) Bridge {
	return Bridge{
		Name: name, Index: index, MAC: overlay.DefaultGatewayMAC,
		Gateway: netip.MustParsePrefix("fd00:10:244::1/48"),
		Block:   netip.MustParsePrefix("fd00:10:244:1::/64"),
	}
}

func served(r *Responder) []string {
	var names []string
	for n := range r.Bridges() {
		names = append(names, n)
	}
	return names
}

// TestResponderLifecycle checks that one socket serves every bridge, opened
// with the first and closed with the last, and opened again for the next.
func TestResponderLifecycle(t *testing.T) {
	o := &opener{t: t}
	r := New(Config{Open: o.open})
	defer r.Close()
	for _, b := range []Bridge{bridge("vxbr100", 7), bridge("vxbr200", 8), bridge("vxbr100", 9)} {
		if err := r.Serve(b); err != nil {
			t.Fatalf("serve %s: %v", b.Name, err)
		}
	}
	if got := r.Bridges(); len(got) != 2 || got["vxbr100"].Index != 9 {
		t.Fatalf("bridges %+v, want vxbr100 (ifindex 9, replaced) and vxbr200", got)
	}
	if n := o.count(); n != 1 || !o.isOpen() {
		t.Fatalf("%d sockets opened (open now: %v), want 1, open", n, o.isOpen())
	}
	r.Stop("vxbr100")
	r.Stop("vxbr300") // never served
	if !o.isOpen() {
		t.Fatal("the socket closed with a bridge still served")
	}
	r.Stop("vxbr200")
	if o.isOpen() || len(r.Bridges()) != 0 {
		t.Fatalf("after the last bridge: socket open %v, bridges %v", o.isOpen(), served(r))
	}
	if err := r.Serve(bridge("vxbr100", 7)); err != nil {
		t.Fatal(err)
	}
	if n := o.count(); n != 2 || !o.isOpen() {
		t.Fatalf("serving again: %d sockets opened, open %v; want 2, open", n, o.isOpen())
	}
	r.Close()
	if o.isOpen() || len(r.Bridges()) != 0 {
		t.Fatalf("after Close: socket open %v, bridges %v", o.isOpen(), served(r))
	}
	r.Close() // twice is fine
}

// TestResponderRefuses checks that a bridge the Responder cannot serve is
// not recorded as served.
func TestResponderRefuses(t *testing.T) {
	o := &opener{t: t, fail: errors.New("no socket for you")}
	r := New(Config{Open: o.open})
	defer r.Close()
	if err := r.Serve(bridge("vxbr100", 7)); err == nil || len(r.Bridges()) != 0 {
		t.Fatalf("serve without a socket: err %v, bridges %v", err, served(r))
	}
	o.fail = nil
	v4 := bridge("vxbr100", 7)
	v4.Gateway = netip.MustParsePrefix("10.244.0.1/16")
	if err := r.Serve(v4); err == nil {
		t.Error("serve with an IPv4 gateway: no error")
	}
	if err := r.Serve(bridge("vxbr100", 0)); err == nil {
		t.Error("serve without ifindex: no error")
	}
	if len(r.Bridges()) != 0 || o.count() != 0 {
		t.Fatalf("refused bridges served %v, %d sockets opened", served(r), o.count())
	}
}

// TestResponderFails checks that a receive error stops the Responder: it
// forgets its bridges, says so, and the next Serve opens a new socket.
func TestResponderFails(t *testing.T) {
	o := &opener{t: t, broken: true}
	stopped := make(chan error, 1)
	r := New(Config{Open: o.open, Stopped: func(err error) { stopped <- err }})
	defer r.Close()
	if err := r.Serve(bridge("vxbr100", 7)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, unix.ENOTSOCK) {
			t.Errorf("stopped with %v, want the receive error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failure was not reported")
	}
	if len(r.Bridges()) != 0 {
		t.Fatalf("a failed responder still serves %v", served(r))
	}
	o.broken = false
	if err := r.Serve(bridge("vxbr100", 7)); err != nil {
		t.Fatal(err)
	}
	if n := o.count(); n != 2 || len(r.Bridges()) != 1 {
		t.Fatalf("after serving again: %d sockets opened, bridges %v", n, served(r))
	}
}
