package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Helpers for the benchmark harness (bench/): namespaces and batches that the
// run records and Close removes, timed deletes, and a watch that also sees
// neighbour (ARP) entries.

// AddNetns creates namespace <run>-<suffix> with lo up; Close deletes it.
func (l *Lab) AddNetns(ctx context.Context, suffix string) (string, error) {
	name := l.ID + "-" + suffix
	return name, l.addNetns(ctx, name)
}

// IPBatch runs `ip -n ns -batch -` with lines.
func IPBatch(ctx context.Context, ns string, lines []string) error { return ipBatch(ctx, ns, lines) }

// BridgeBatch runs `bridge -n ns -batch -` with lines.
func BridgeBatch(ctx context.Context, ns string, lines []string) error {
	in := []byte(strings.Join(lines, "\n") + "\n")
	if _, err := run(ctx, in, nil, "bridge", "-n", ns, "-batch", "-"); err != nil {
		return fmt.Errorf("bridge batch in %s: %w", ns, err)
	}
	return nil
}

// Sysctl sets kernel parameters inside ns.
func Sysctl(ctx context.Context, ns string, kv ...string) error { return sysctl(ctx, ns, kv...) }

// RunEnv runs argv with stdin and env (nil: inherit) and returns stdout.
func RunEnv(ctx context.Context, stdin []byte, env []string, argv ...string) ([]byte, error) {
	return run(ctx, stdin, env, argv...)
}

// DelPodTimed is DelPod that returns how long the CNI DEL alone took.
func (l *Lab) DelPodTimed(ctx context.Context, p *Pod) (time.Duration, error) {
	start := time.Now()
	if _, err := p.Host.CNI(ctx, "DEL", p.ContainerID, netnsDir+"/"+p.NS, p.IfName, p.Host.NetConf()); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if err := delNetns(ctx, p.NS, l.Dir); err != nil {
		return d, err
	}
	l.mu.Lock()
	for i, q := range l.pods {
		if q == p {
			l.pods = append(l.pods[:i], l.pods[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	return d, nil
}

// DelNetns deletes a namespace this run created.
func (l *Lab) DelNetns(ctx context.Context, name string) error { return delNetns(ctx, name, l.Dir) }

// NetnsPath is the path runtimes pass as CNI_NETNS for namespace name.
func NetnsPath(name string) string { return netnsDir + "/" + name }

// KernelWatch timestamps, from netlink notifications in one namespace, the
// first time each remote FDB entry ("fdb|mac|dst", self entries with a dst)
// and each IPv4/IPv6 neighbour ("neigh|ip|mac") was added. Unlike FDBWatch it
// also counts entries, for bulk measurements.
type KernelWatch struct {
	done chan struct{}
	mu   sync.Mutex
	seen map[string]time.Time
	wake chan struct{}
	err  error
	fdbN int // remote FDB entries added
	last time.Time
	mac  string // if set, only FDB entries whose MAC starts with it count
}

// WatchKernelMAC is WatchKernel counting only the remote FDB entries whose
// MAC starts with macPrefix (lowercase, e.g. "02:e0:").
func WatchKernelMAC(ns, macPrefix string) (*KernelWatch, error) {
	return watchKernel(ns, strings.ToLower(macPrefix))
}

// WatchKernel subscribes to neighbour events in namespace ns.
func WatchKernel(ns string) (*KernelWatch, error) { return watchKernel(ns, "") }

func watchKernel(ns, macPrefix string) (*KernelWatch, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer h.Close()
	w := &KernelWatch{done: make(chan struct{}), seen: map[string]time.Time{}, wake: make(chan struct{}), mac: macPrefix}
	ch := make(chan netlink.NeighUpdate, 65536)
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

func (w *KernelWatch) loop(ch <-chan netlink.NeighUpdate) {
	for u := range ch {
		now := time.Now()
		if u.Type != unix.RTM_NEWNEIGH {
			continue
		}
		n := u.Neigh
		var k string
		switch {
		case n.Family == unix.AF_BRIDGE && n.Flags&netlink.NTF_SELF != 0 && n.IP != nil:
			mac := strings.ToLower(n.HardwareAddr.String())
			if !strings.HasPrefix(mac, w.mac) {
				continue
			}
			k = "fdb|" + mac + "|" + n.IP.String()
		case n.Family == unix.AF_INET || n.Family == unix.AF_INET6:
			if n.HardwareAddr == nil || n.IP == nil {
				continue
			}
			k = "neigh|" + n.IP.String() + "|" + strings.ToLower(n.HardwareAddr.String())
		default:
			continue
		}
		w.mu.Lock()
		if _, ok := w.seen[k]; !ok {
			w.seen[k] = now
			if strings.HasPrefix(k, "fdb|") {
				w.fdbN++
				w.last = now
			}
		}
		close(w.wake)
		w.wake = make(chan struct{})
		w.mu.Unlock()
	}
}

// WaitFDB waits for the remote entry "mac dst dst self".
func (w *KernelWatch) WaitFDB(ctx context.Context, mac, dst string) (time.Time, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return time.Time{}, err
	}
	return w.wait(ctx, "fdb|"+hw.String()+"|"+net.ParseIP(dst).String(), -1)
}

// WaitNeigh waits for the neighbour entry ip lladdr mac.
func (w *KernelWatch) WaitNeigh(ctx context.Context, ip, mac string) (time.Time, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return time.Time{}, err
	}
	return w.wait(ctx, "neigh|"+net.ParseIP(ip).String()+"|"+hw.String(), -1)
}

// WaitFDBCount waits until n distinct remote FDB entries were added and
// returns when the n-th arrived.
func (w *KernelWatch) WaitFDBCount(ctx context.Context, n int) (time.Time, error) {
	return w.wait(ctx, "", n)
}

// FDBCount is how many distinct remote FDB entries were added so far.
func (w *KernelWatch) FDBCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fdbN
}

func (w *KernelWatch) wait(ctx context.Context, k string, n int) (time.Time, error) {
	for {
		w.mu.Lock()
		t, ok := w.seen[k]
		if n >= 0 {
			t, ok = w.last, w.fdbN >= n
		}
		wake, werr := w.wake, w.err
		w.mu.Unlock()
		if ok {
			return t, nil
		}
		if werr != nil {
			return time.Time{}, fmt.Errorf("watch: %w", werr)
		}
		select {
		case <-ctx.Done():
			what := k
			if n >= 0 {
				what = fmt.Sprintf("%d fdb entries (have %d)", n, w.FDBCount())
			}
			return time.Time{}, fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-wake:
		}
	}
}

// Close ends the subscription.
func (w *KernelWatch) Close() { close(w.done) }

// AddUnderlayNS creates namespace <run>-<suffix> whose eth0 (addr/24) is a
// port named port of the underlay bridge, as the hosts' are.
func (l *Lab) AddUnderlayNS(ctx context.Context, suffix, port, addr string) (string, error) {
	name := l.ID + "-" + suffix
	return name, l.addHostNS(ctx, name, port, addr)
}

// PIDs returns the running FRR daemons' PIDs by name (zebra, bgpd).
func (f *FRRHost) PIDs() map[string]int {
	out := map[string]int{}
	for k, v := range f.pids {
		out[k] = v
	}
	return out
}

// RouteWatch counts, from netlink notifications in one namespace, the
// distinct IPv4 destinations inside a prefix that got a route.
type RouteWatch struct {
	done   chan struct{}
	within netip.Prefix
	mu     sync.Mutex
	seen   map[netip.Prefix]bool
	last   time.Time
	wake   chan struct{}
	err    error
}

// WatchRoutes subscribes to route events in namespace ns.
func WatchRoutes(ns string, within netip.Prefix) (*RouteWatch, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer h.Close()
	w := &RouteWatch{done: make(chan struct{}), within: within, seen: map[netip.Prefix]bool{}, wake: make(chan struct{})}
	ch := make(chan netlink.RouteUpdate, 65536)
	err = netlink.RouteSubscribeWithOptions(ch, w.done, netlink.RouteSubscribeOptions{
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
		return nil, fmt.Errorf("subscribe to routes in %s: %w", ns, err)
	}
	go func() {
		for u := range ch {
			now := time.Now()
			if u.Type != unix.RTM_NEWROUTE || u.Dst == nil {
				continue
			}
			a, ok := netip.AddrFromSlice(u.Dst.IP)
			if !ok {
				continue
			}
			ones, _ := u.Dst.Mask.Size()
			p := netip.PrefixFrom(a.Unmap(), ones)
			if !w.within.Overlaps(p) || p.Bits() < w.within.Bits() {
				continue
			}
			w.mu.Lock()
			if !w.seen[p] {
				w.seen[p] = true
				w.last = now
			}
			close(w.wake)
			w.wake = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// Count is how many distinct destinations got a route so far.
func (w *RouteWatch) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// WaitCount waits until n destinations got a route and returns when the
// last of them did.
func (w *RouteWatch) WaitCount(ctx context.Context, n int) (time.Time, error) {
	for {
		w.mu.Lock()
		c, t, wake, werr := len(w.seen), w.last, w.wake, w.err
		w.mu.Unlock()
		if c >= n {
			return t, nil
		}
		if werr != nil {
			return time.Time{}, fmt.Errorf("watch routes: %w", werr)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for %d routes in %s (have %d): %w", n, w.within, c, ctx.Err())
		case <-wake:
		}
	}
}

// Close ends the subscription.
func (w *RouteWatch) Close() { close(w.done) }
