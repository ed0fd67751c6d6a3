package bench

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// The rows' keys for lab watches (lab.WatchNeigh, lab.WatchRoutes): each
// row is timed from the netlink notification that first showed what it
// waits for.

// kernelKey keys an added remote FDB entry (self, with a dst) as
// "fdb|MAC|DST" and an added IPv4/IPv6 neighbour as "neigh|IP|MAC".
func kernelKey(u netlink.NeighUpdate) (string, bool) {
	if u.Type != unix.RTM_NEWNEIGH {
		return "", false
	}
	n := u.Neigh
	switch {
	case n.Family == unix.AF_BRIDGE && n.Flags&netlink.NTF_SELF != 0 && n.IP != nil:
		return "fdb|" + strings.ToLower(n.HardwareAddr.String()) + "|" + n.IP.String(), true
	case n.Family == unix.AF_INET || n.Family == unix.AF_INET6:
		if n.HardwareAddr == nil || n.IP == nil {
			return "", false
		}
		return "neigh|" + n.IP.String() + "|" + strings.ToLower(n.HardwareAddr.String()), true
	}
	return "", false
}

// remoteFDBWithPrefix keys only the added remote FDB entries whose MAC
// starts with prefix (e.g. "02:e0:"), for counting a bulk's entries.
func remoteFDBWithPrefix(prefix string) func(netlink.NeighUpdate) (string, bool) {
	want := "fdb|" + strings.ToLower(prefix)
	return func(u netlink.NeighUpdate) (string, bool) {
		k, ok := kernelKey(u)
		return k, ok && strings.HasPrefix(k, want)
	}
}

// programmedWithPrefix keys the added remote FDB entries and the added
// neighbours whose MAC starts with prefix: an endpoint with an address is
// programmed when both are in, 2n keys for n endpoints.
func programmedWithPrefix(prefix string) func(netlink.NeighUpdate) (string, bool) {
	fdb, prefix := "fdb|"+strings.ToLower(prefix), strings.ToLower(prefix)
	return func(u netlink.NeighUpdate) (string, bool) {
		k, ok := kernelKey(u)
		if !ok {
			return "", false
		}
		if strings.HasPrefix(k, fdb) {
			return k, true
		}
		// "neigh|IP|MAC"
		if rest, isNeigh := strings.CutPrefix(k, "neigh|"); isNeigh {
			_, mac, _ := strings.Cut(rest, "|")
			return k, strings.HasPrefix(mac, prefix)
		}
		return "", false
	}
}

// deletedFDBWithPrefix keys the deleted remote FDB entries (self, with a
// dst) whose MAC starts with prefix by their MAC, for counting a
// withdrawal.
func deletedFDBWithPrefix(prefix string) func(netlink.NeighUpdate) (string, bool) {
	prefix = strings.ToLower(prefix)
	return func(u netlink.NeighUpdate) (string, bool) {
		n := u.Neigh
		if u.Type != unix.RTM_DELNEIGH || n.Family != unix.AF_BRIDGE || n.Flags&netlink.NTF_SELF == 0 || n.IP == nil {
			return "", false
		}
		mac := strings.ToLower(n.HardwareAddr.String())
		return mac, strings.HasPrefix(mac, prefix)
	}
}

// routesDeletedWithin keys a deleted route by its destination if that lies
// inside within.
func routesDeletedWithin(within netip.Prefix) func(netlink.RouteUpdate) (netip.Prefix, bool) {
	return func(u netlink.RouteUpdate) (netip.Prefix, bool) {
		if u.Type != unix.RTM_DELROUTE {
			return netip.Prefix{}, false
		}
		u.Type = unix.RTM_NEWROUTE
		return routesWithin(within)(u)
	}
}

// routesWithin keys an added route by its destination if that lies inside
// within (and is no wider).
func routesWithin(within netip.Prefix) func(netlink.RouteUpdate) (netip.Prefix, bool) {
	return func(u netlink.RouteUpdate) (netip.Prefix, bool) {
		if u.Type != unix.RTM_NEWROUTE || u.Dst == nil {
			return netip.Prefix{}, false
		}
		a, ok := netip.AddrFromSlice(u.Dst.IP)
		if !ok {
			return netip.Prefix{}, false
		}
		ones, _ := u.Dst.Mask.Size()
		p := netip.PrefixFrom(a.Unmap(), ones)
		return p, within.Overlaps(p) && p.Bits() >= within.Bits()
	}
}

// kernelWatch is a lab watch keyed by kernelKey.
type kernelWatch struct{ *lab.Watch[string] }

func watchKernel(ns string) (kernelWatch, error) {
	w, err := lab.WatchNeigh(ns, kernelKey)
	return kernelWatch{w}, err
}

// WaitFDB waits for the remote entry "mac dst dst self".
func (w kernelWatch) WaitFDB(ctx context.Context, mac, dst string) (time.Time, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return time.Time{}, err
	}
	return w.Wait(ctx, "fdb|"+hw.String()+"|"+net.ParseIP(dst).String())
}

// WaitNeigh waits for the neighbour entry "ip lladdr mac".
func (w kernelWatch) WaitNeigh(ctx context.Context, ip, mac string) (time.Time, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return time.Time{}, err
	}
	return w.Wait(ctx, "neigh|"+net.ParseIP(ip).String()+"|"+hw.String())
}
