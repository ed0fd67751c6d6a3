package lab

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/nlsub"
)

// Watch timestamps kernel objects in one namespace by the netlink
// notification that first showed them. A key function turns each
// notification into the key of the object it stands for (or ignores it);
// the watch keeps the first time each key was notified. Subscribing before
// the action being measured means no event can slip between the action and
// the first look, and the resolution is that of the event, not of a poll
// loop: the benchmarks time convergence from these stamps.
type Watch[K comparable] struct {
	what string // "neighbours in NS", "routes in NS": for errors
	done chan struct{}
	mu   sync.Mutex
	seen map[K]time.Time // key -> when its first notification arrived
	last time.Time       // when the latest new key arrived
	wake chan struct{}   // closed and replaced on every keyed notification
	err  error           // from netlink's error callback
}

// watchBuffer is every lab netlink watch's receive buffer, set with force:
// without it the kernel caps the size at net.core.rmem_max (208 KiB here),
// and 100,000 entries installed in a burst overflowed that.
const watchBuffer = 64 << 20

// Queues between netlink's reader and a watch's loop: room for a bulk burst
// in the benchmarks' watches, a few entries in the e2e FDB watch.
const (
	bulkQueue = 65536
	fdbQueue  = 1024
)

// subscription starts one netlink subscription into ch until done closes,
// in namespace ns, reporting receive errors to onErr.
type subscription[U any] func(ch chan U, done chan struct{}, ns *netns.NsHandle, onErr func(error)) error

// subscribeNeigh is the neighbour subscription of the agent's own watch
// (nlsub.Neigh), without its filter: the library's allocated 64 KiB per
// event, and with 100,000 routes coming in on a host, the bench's
// watches made 13 GB of garbage per host per sample and took the CPU the
// daemons they time were racing for.
func subscribeNeigh(ch chan netlink.NeighUpdate, done chan struct{}, ns *netns.NsHandle, onErr func(error)) error {
	return nlsub.Neigh(func() (int, error) { return nlsub.SocketIn(*ns) }, watchBuffer, nil, ch, done, onErr)
}

func subscribeRoute(ch chan netlink.RouteUpdate, done chan struct{}, ns *netns.NsHandle, onErr func(error)) error {
	return netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{
		Namespace: ns, ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: true, ErrorCallback: onErr,
	})
}

// WatchNeigh subscribes to neighbour notifications (FDB entries and IPv4/
// IPv6 neighbours) in namespace ns; key maps each to its key, false to
// ignore it.
func WatchNeigh[K comparable](ns string, key func(netlink.NeighUpdate) (K, bool)) (*Watch[K], error) {
	return watch(ns, "neighbours", bulkQueue, subscribeNeigh, key)
}

// WatchRoutes subscribes to route notifications in namespace ns; key maps
// each to its key, false to ignore it.
func WatchRoutes[K comparable](ns string, key func(netlink.RouteUpdate) (K, bool)) (*Watch[K], error) {
	return watch(ns, "routes", bulkQueue, subscribeRoute, key)
}

// watch is the one subscription every kind of watch goes through.
func watch[U any, K comparable](ns, kind string, queue int, sub subscription[U], key func(U) (K, bool)) (*Watch[K], error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer h.Close() // only needed while subscribing
	w := &Watch[K]{what: kind + " in " + ns, done: make(chan struct{}), seen: map[K]time.Time{}, wake: make(chan struct{})}
	ch := make(chan U, queue)
	onErr := func(err error) {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}
	if err := sub(ch, w.done, &h, onErr); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", w.what, err)
	}
	go watchLoop(w, ch, key)
	return w, nil
}

// watchLoop stamps each notification on arrival, before it is keyed.
func watchLoop[U any, K comparable](w *Watch[K], ch <-chan U, key func(U) (K, bool)) {
	for u := range ch {
		now := time.Now()
		k, ok := key(u)
		if !ok {
			continue
		}
		w.mu.Lock()
		if _, dup := w.seen[k]; !dup {
			w.seen[k] = now
			w.last = now
		}
		close(w.wake)
		w.wake = make(chan struct{})
		w.mu.Unlock()
	}
}

// Wait waits until k is notified and returns when its first notification
// arrived.
func (w *Watch[K]) Wait(ctx context.Context, k K) (time.Time, error) {
	return w.wait(ctx, func() (time.Time, bool) {
		t, ok := w.seen[k]
		return t, ok
	}, func() string { return fmt.Sprint(k) })
}

// WaitCount waits until n distinct keys were notified and returns when the
// latest new one arrived.
func (w *Watch[K]) WaitCount(ctx context.Context, n int) (time.Time, error) {
	return w.wait(ctx, func() (time.Time, bool) {
		return w.last, len(w.seen) >= n
	}, func() string { return fmt.Sprintf("%d keys (have %d)", n, w.count()) })
}

// Seen returns when k was first notified, without waiting.
func (w *Watch[K]) Seen(k K) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[k]
	return t, ok
}

// Times returns when each key was first notified, earliest first.
func (w *Watch[K]) Times() []time.Time {
	w.mu.Lock()
	out := make([]time.Time, 0, len(w.seen))
	for _, t := range w.seen {
		out = append(out, t)
	}
	w.mu.Unlock()
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// Err is the subscription's receive error (e.g. a lost notification), if
// any: a watch that lost one may never see what it waits for.
func (w *Watch[K]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// count is how many distinct keys were notified so far.
func (w *Watch[K]) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// wait re-checks done (called with w.mu held) after every event until it
// holds, the subscription failed, or ctx ends.
func (w *Watch[K]) wait(ctx context.Context, done func() (time.Time, bool), what func() string) (time.Time, error) {
	for {
		w.mu.Lock()
		t, ok := done()
		wake, werr := w.wake, w.err
		w.mu.Unlock()
		if ok {
			return t, nil
		}
		if werr != nil {
			return time.Time{}, fmt.Errorf("watch %s: %w", w.what, werr)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for %s of %s: %w", what(), w.what, ctx.Err())
		case <-wake:
		}
	}
}

// Close ends the subscription.
func (w *Watch[K]) Close() { close(w.done) }

// FDBWatch timestamps the FDB "self" entries (a vxlan device's: MAC dst
// VTEP) added to and deleted from one namespace.
type FDBWatch struct{ w *Watch[fdbEvent] }

// fdbEvent is an FDB entry added ("add") or deleted ("del").
type fdbEvent struct{ op, mac, dst string }

func (e fdbEvent) String() string { return "fdb " + e.op + " " + e.mac + " dst " + e.dst }

func newFDBEvent(op string, mac net.HardwareAddr, dst net.IP) fdbEvent {
	d := ""
	if dst != nil {
		d = dst.String()
	}
	return fdbEvent{op: op, mac: strings.ToLower(mac.String()), dst: d}
}

// fdbEventOf keys the bridge family's "self" notifications.
func fdbEventOf(u netlink.NeighUpdate) (fdbEvent, bool) {
	n := u.Neigh
	if n.Family != unix.AF_BRIDGE || n.Flags&netlink.NTF_SELF == 0 {
		return fdbEvent{}, false
	}
	op := "add"
	if u.Type == unix.RTM_DELNEIGH {
		op = "del"
	}
	return newFDBEvent(op, n.HardwareAddr, n.IP), true
}

// WatchFDB subscribes to FDB notifications in namespace ns.
func WatchFDB(ns string) (*FDBWatch, error) {
	w, err := watch(ns, "neighbours", fdbQueue, subscribeNeigh, fdbEventOf)
	if err != nil {
		return nil, err
	}
	return &FDBWatch{w}, nil
}

// WaitAdded waits until an entry "mac dst dst self" is added and returns
// when its notification arrived.
func (f *FDBWatch) WaitAdded(ctx context.Context, mac, dst string) (time.Time, error) {
	return f.wait(ctx, "add", mac, dst)
}

// WaitDeleted waits until the entry "mac dst dst self" is deleted.
func (f *FDBWatch) WaitDeleted(ctx context.Context, mac, dst string) (time.Time, error) {
	return f.wait(ctx, "del", mac, dst)
}

func (f *FDBWatch) wait(ctx context.Context, op, mac, dst string) (time.Time, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse mac %s: %w", mac, err)
	}
	return f.w.Wait(ctx, newFDBEvent(op, hw, net.ParseIP(dst)))
}

// Close ends the subscription.
func (f *FDBWatch) Close() { f.w.Close() }

// routeEvent is an agent route (protocol RouteProto) to dst added ("add":
// new or replaced) or deleted ("del").
type routeEvent struct{ op, dst string }

func (e routeEvent) String() string { return "route " + e.op + " " + e.dst }

// agentRouteEventOf keys the notifications of the agent's routes.
func agentRouteEventOf(u netlink.RouteUpdate) (routeEvent, bool) {
	if u.Route.Protocol != RouteProto || u.Route.Dst == nil {
		return routeEvent{}, false
	}
	op := "add"
	if u.Type == unix.RTM_DELROUTE {
		op = "del"
	}
	return routeEvent{op: op, dst: u.Route.Dst.String()}, true
}
