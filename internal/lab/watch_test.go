package lab

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/nstest"
)

// TestWatch (root: a namespace of its own) drives the FDB watch and the
// generic watch of both kinds with entries and routes made by iproute2.
func TestWatch(t *testing.T) {
	_, ns := nstest.New(t, "lw")
	nstest.IP(t, ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	nstest.IP(t, ns, "addr", "add", "10.9.0.1/24", "dev", "d0")
	nstest.IP(t, ns, "link", "set", "d1", "up")
	nstest.IP(t, ns, "link", "set", "d0", "up")
	nstest.IP(t, ns, "link", "add", "vx0", "type", "vxlan", "id", "100", "dstport", "4789", "local", "10.9.0.1", "nolearning")
	nstest.IP(t, ns, "link", "set", "vx0", "up")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	fdb, err := WatchFDB(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	// Remote entries by MAC, as the benchmarks count a bulk's.
	macs, err := WatchNeigh(ns, func(u netlink.NeighUpdate) (string, bool) {
		n := u.Neigh
		return n.HardwareAddr.String(), u.Type == unix.RTM_NEWNEIGH && n.Family == unix.AF_BRIDGE && n.IP != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer macs.Close()
	routes, err := WatchRoutes(ns, func(u netlink.RouteUpdate) (string, bool) {
		if u.Type != unix.RTM_NEWROUTE || u.Dst == nil {
			return "", false
		}
		a, ok := netip.AddrFromSlice(u.Dst.IP)
		return u.Dst.String(), ok && netip.MustParsePrefix("10.10.0.0/16").Contains(a.Unmap())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer routes.Close()

	before := time.Now()
	for _, mac := range []string{"02:00:00:00:00:01", "02:00:00:00:00:02"} {
		nstest.Run(t, "bridge", "-n", ns, "fdb", "add", mac, "dev", "vx0", "dst", "10.9.0.2", "self")
	}
	added, err := fdb.WaitAdded(ctx, "02:00:00:00:00:01", "10.9.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if added.Before(before) || added.After(time.Now()) {
		t.Errorf("added at %v, not between the add (%v) and now", added, before)
	}
	if _, err := macs.WaitCount(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := macs.count(); n != 2 {
		t.Errorf("count %d, want 2", n)
	}
	// A second notification of the same entry keeps the first stamp.
	nstest.Run(t, "bridge", "-n", ns, "fdb", "replace", "02:00:00:00:00:01", "dev", "vx0", "dst", "10.9.0.2", "self")
	nstest.Run(t, "bridge", "-n", ns, "fdb", "del", "02:00:00:00:00:01", "dev", "vx0", "dst", "10.9.0.2", "self")
	deleted, err := fdb.WaitDeleted(ctx, "02:00:00:00:00:01", "10.9.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := fdb.WaitAdded(ctx, "02:00:00:00:00:01", "10.9.0.2"); err != nil || !again.Equal(added) || deleted.Before(added) {
		t.Errorf("added %v then %v (%v), deleted %v", added, again, err, deleted)
	}

	for _, dst := range []string{"10.10.1.0/24", "10.10.2.0/24", "10.10.3.0/24"} {
		nstest.IP(t, ns, "route", "add", dst, "via", "10.9.0.2")
	}
	if _, err := routes.WaitCount(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := routes.Wait(ctx, "10.10.2.0/24"); err != nil {
		t.Fatal(err)
	}

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := fdb.WaitAdded(short, "02:00:00:00:00:09", "10.9.0.2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for an entry nobody adds: %v", err)
	}
	if _, err := fdb.WaitAdded(ctx, "not-a-mac", "10.9.0.2"); err == nil {
		t.Error("a malformed MAC was accepted")
	}
}
