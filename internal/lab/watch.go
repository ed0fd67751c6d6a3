package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// FDBWatch timestamps the FDB entries that appear and disappear in one
// namespace, from netlink neighbour notifications. Subscribing before the
// action being measured means no event can slip between the action and the
// first poll, and the resolution is that of the event, not of a poll loop.
type FDBWatch struct {
	done chan struct{}
	mu   sync.Mutex
	seen map[string]time.Time // "add|del mac dst" -> first time
	wake chan struct{}        // closed and replaced on every event
	err  error
}

// watchBuffer is every lab netlink watch's receive buffer, set with force:
// without it the kernel caps the size at net.core.rmem_max (208 KiB here),
// and 100,000 entries installed in a burst overflowed that.
const watchBuffer = 64 << 20

// WatchFDB subscribes to neighbour events in namespace ns.
func WatchFDB(ns string) (*FDBWatch, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer h.Close() // only needed while subscribing
	w := &FDBWatch{done: make(chan struct{}), seen: map[string]time.Time{}, wake: make(chan struct{})}
	ch := make(chan netlink.NeighUpdate, 1024)
	err = netlink.NeighSubscribeWithOptions(ch, w.done, netlink.NeighSubscribeOptions{
		Namespace:              &h,
		ReceiveBufferSize:      watchBuffer,
		ReceiveBufferForceSize: true,
		ErrorCallback: func(err error) {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to neighbours in %s: %w", ns, err)
	}
	go w.loop(ch)
	return w, nil
}

func (w *FDBWatch) loop(ch <-chan netlink.NeighUpdate) {
	for u := range ch {
		now := time.Now()
		n := u.Neigh
		if n.Family != unix.AF_BRIDGE || n.Flags&netlink.NTF_SELF == 0 {
			continue
		}
		op := "add"
		if u.Type == unix.RTM_DELNEIGH {
			op = "del"
		}
		k := fdbKey(op, n.HardwareAddr, n.IP)
		w.mu.Lock()
		if _, ok := w.seen[k]; !ok {
			w.seen[k] = now
		}
		close(w.wake)
		w.wake = make(chan struct{})
		w.mu.Unlock()
	}
}

func fdbKey(op string, mac net.HardwareAddr, dst net.IP) string {
	d := ""
	if dst != nil {
		d = dst.String()
	}
	return op + "|" + strings.ToLower(mac.String()) + "|" + d
}

// WaitAdded waits until an entry "mac dst dst self" is added and returns
// when its notification arrived.
func (w *FDBWatch) WaitAdded(ctx context.Context, mac, dst string) (time.Time, error) {
	return w.wait(ctx, "add", mac, dst)
}

// WaitDeleted waits until the entry "mac dst dst self" is deleted.
func (w *FDBWatch) WaitDeleted(ctx context.Context, mac, dst string) (time.Time, error) {
	return w.wait(ctx, "del", mac, dst)
}

func (w *FDBWatch) wait(ctx context.Context, op, mac, dst string) (time.Time, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse mac %s: %w", mac, err)
	}
	k := fdbKey(op, hw, net.ParseIP(dst))
	for {
		w.mu.Lock()
		t, ok := w.seen[k]
		wake, werr := w.wake, w.err
		w.mu.Unlock()
		if ok {
			return t, nil
		}
		if werr != nil {
			return time.Time{}, fmt.Errorf("watch fdb: %w", werr)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for fdb %s %s dst %s: %w", op, mac, dst, ctx.Err())
		case <-wake:
		}
	}
}

// Close ends the subscription.
func (w *FDBWatch) Close() { close(w.done) }
