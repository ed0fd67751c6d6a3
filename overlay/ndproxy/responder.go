package ndproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// Bridge is one bridge the Responder serves.
type Bridge struct {
	Name  string
	Index int // ifindex: solicitations are matched by the interface they arrive on
	// MAC is the bridge's, the anycast gateway MAC: the answers come from
	// it and name it as the target's link-layer address.
	MAC overlay.MAC
	// Gateway is the bridge's IPv6 anycast gateway, address and subnet
	// length: the targets answered are in its subnet, and the answers come
	// from its address. The kernel answers for the gateway itself.
	Gateway netip.Prefix
	// Block is this host's IPv6 block of the subnet: its pods are on the
	// bridge and answer for themselves.
	Block netip.Prefix
}

// Config configures New.
type Config struct {
	// Open returns a new socket to receive solicitations on and send the
	// answers from, as the package's Open makes it; the caller runs it
	// where the bridges are (a packet socket belongs to the network
	// namespace of the thread that creates it). The Responder owns and
	// closes what it returns.
	Open func() (int, error)
	// Stopped, if set, is called when the Responder stopped serving on a
	// receive error (after Serving has turned false), so that its owner
	// can serve again; it must not block.
	Stopped func(error)
	Logger  *slog.Logger
}

// Responder answers neighbour solicitations on the bridges it serves, from
// one socket it holds while it serves any. It is safe for concurrent use.
type Responder struct {
	open    func() (int, error)
	stopped func(error)
	log     *slog.Logger

	// mu guards bridges and loop, together: bridges is empty exactly when
	// loop is nil.
	mu      sync.Mutex
	bridges map[string]Bridge // by name
	loop    *loop             // the receive loop, nil when none runs
}

// loop is one receive loop on one socket.
type loop struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop has returned and closed its socket
}

// New returns a Responder that serves no bridge yet.
func New(c Config) *Responder {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Responder{open: c.Open, stopped: c.Stopped, log: c.Logger, bridges: map[string]Bridge{}}
}

// Open returns a nonblocking packet socket that receives the IPv6
// neighbour solicitations of every interface of the calling thread's
// network namespace (and nothing else) and can send on them.
//
//	socket(AF_PACKET, SOCK_RAW|SOCK_NONBLOCK|SOCK_CLOEXEC, htons(ETH_P_IPV6)); setsockopt(SO_ATTACH_FILTER)
func Open() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IPV6)))
	if err != nil {
		return -1, fmt.Errorf("open packet socket: %w", err)
	}
	// Frames that arrive before the filter may be anything: they are
	// parsed like the rest, and dropped by the parser.
	prog := unix.SockFprog{Len: uint16(len(nsFilter)), Filter: &nsFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("attach neighbour solicitation filter: %w", err)
	}
	return fd, nil
}

// Serve answers on bridge b from now on (replacing what it served under
// b.Name), opening the socket if none is open.
func (r *Responder) Serve(b Bridge) error {
	if !b.Gateway.Addr().Is6() || b.Index <= 0 {
		return fmt.Errorf("proxy nd dev %s: needs an ifindex and an IPv6 gateway, got %d and %s", b.Name, b.Index, b.Gateway)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loop == nil {
		l, err := r.start()
		if err != nil {
			return fmt.Errorf("proxy nd dev %s: %w", b.Name, err)
		}
		r.loop = l
	}
	if old, ok := r.bridges[b.Name]; !ok || old != b {
		r.log.Info("answering IPv6 neighbour solicitations for remote pods", "dev", b.Name, "prefix", b.Gateway.Masked(), "block", b.Block)
	}
	r.bridges[b.Name] = b
	return nil
}

// Stop stops answering on the bridge called name, and closes the socket
// when it was the last one.
func (r *Responder) Stop(name string) {
	r.mu.Lock()
	if _, ok := r.bridges[name]; !ok {
		r.mu.Unlock()
		return
	}
	delete(r.bridges, name)
	r.log.Info("stopped answering IPv6 neighbour solicitations", "dev", name)
	var l *loop
	if len(r.bridges) == 0 {
		l, r.loop = r.loop, nil
	}
	r.mu.Unlock()
	l.stop(r.log)
}

// Close stops answering on every bridge and closes the socket.
func (r *Responder) Close() {
	r.mu.Lock()
	l := r.loop
	r.loop = nil
	clear(r.bridges)
	r.mu.Unlock()
	l.stop(r.log)
}

// Bridges returns the bridges served now, by name (a copy).
func (r *Responder) Bridges() map[string]Bridge {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.bridges)
}

// start opens a socket and starts a receive loop on it (r.mu held).
func (r *Responder) start() (*loop, error) {
	if r.open == nil {
		return nil, errors.New("no socket to open")
	}
	fd, err := r.open()
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "nd-responder")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{cancel: cancel, done: make(chan struct{})}
	// The deadline wakes the read in receive; the socket is closed by the
	// loop alone, before done, so that stop returns with it closed (a Close
	// from here could still be closing it when done closes).
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	go func() {
		defer close(l.done)
		err := r.receive(ctx, l, rc)
		stop()
		f.Close()
		if err != nil {
			r.failed(l, err)
		}
	}()
	r.log.Debug("opened the neighbour solicitation socket")
	return l, nil
}

// failed forgets every bridge after loop l ended on err, unless l was
// stopped meanwhile: the owner then sees the bridges unserved and serves
// them again, on a new socket.
func (r *Responder) failed(l *loop, err error) {
	r.mu.Lock()
	current := r.loop == l
	if current {
		r.loop = nil
		clear(r.bridges)
	}
	r.mu.Unlock()
	if !current {
		return
	}
	r.log.Error("neighbour solicitation responder failed, no longer answering", "err", err)
	if r.stopped != nil {
		r.stopped(err)
	}
}

// stop ends the loop and waits for its socket to close; a nil loop is
// stopped already.
func (l *loop) stop(log *slog.Logger) {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
	log.Debug("closed the neighbour solicitation socket")
}

// receive answers solicitations until ctx ends (nil) or receiving fails.
func (r *Responder) receive(ctx context.Context, l *loop, rc syscall.RawConn) error {
	buf := make([]byte, 2048)
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = rerr
		}
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENETDOWN) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		r.handle(l, rc, ll.Ifindex, buf[:n])
	}
}

// handle answers one received frame if it is a solicitation to answer on
// a bridge served by loop l.
func (r *Responder) handle(l *loop, rc syscall.RawConn, ifindex int, frame []byte) {
	ns, ok := parseNS(frame)
	if !ok {
		return
	}
	b, ok := r.bridgeAt(l, ifindex)
	if !ok || !answers(b, ns) {
		return
	}
	dst := ns.SrcLL
	if dst == nil {
		dst = ns.EthSrc
	}
	na := buildNA(b.MAC.HardwareAddr(), dst, b.Gateway.Addr(), ns.Src, ns.Target)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: ifindex, Halen: 6}
	copy(to.Addr[:], dst)
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), na, 0, to)
		return !errors.Is(serr, unix.EAGAIN)
	}); err != nil {
		serr = err
	}
	if serr != nil {
		r.log.Warn("neighbour advertisement failed", "dev", b.Name, "target", ns.Target, "to", ns.Src, "err", serr)
		return
	}
	r.log.Debug("answered neighbour solicitation", "dev", b.Name, "target", ns.Target, "to", ns.Src)
}

// bridgeAt returns the bridge with ifindex that loop l serves: none once l
// is stopped, even while it drains.
func (r *Responder) bridgeAt(l *loop, ifindex int) (Bridge, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loop != l {
		return Bridge{}, false
	}
	for _, b := range r.bridges {
		if b.Index == ifindex {
			return b, true
		}
	}
	return Bridge{}, false
}
