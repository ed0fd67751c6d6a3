package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// TestDeletePod: CNI DEL of a pod withdraws it: its type-2 leaves every
// other host's `vxbgpctl routes`, and its FDB and neighbour entries leave
// every other host's kernel.
func TestDeletePod(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 3})
	addPods(t, ctx, l, 2)
	converge(t, ctx, l)
	gone := podOn(t, l.Pods(), l.Host(2))
	for _, h := range l.Hosts {
		if h == gone.Host {
			continue
		}
		routes, err := h.Routes(ctx)
		must(t, err)
		if !lab.HasType2(routes, gone.MAC, "") {
			t.Fatalf("%s: no type-2 for %s (%s) before the delete: %+v", h.Name, gone.Name, gone.MAC, routes)
		}
	}

	w, err := lab.WatchFDB(l.Host(1).NS)
	must(t, err)
	defer w.Close()
	start := time.Now()
	must(t, l.DelPod(ctx, gone))
	if at, err := w.WaitDeleted(ctx, gone.MAC, gone.Host.Addr); err != nil {
		t.Errorf("h1: %v", err)
	} else {
		t.Logf("TIMING: CNI DEL on %s -> FDB entry removed on h1: %v", gone.Host.Name, at.Sub(start).Round(100*time.Microsecond))
	}
	for _, h := range l.Hosts {
		if h == gone.Host {
			continue
		}
		if err := waitWithdrawn(ctx, h, gone); err != nil {
			t.Error(err)
		}
	}
	// The others are untouched.
	a, b := podOn(t, l.Pods(), l.Host(1)), podOn(t, l.Pods(), l.Host(3))
	if st, err := lab.Ping(ctx, a.NS, b.IP.String(), 2); err != nil || st.Received == 0 {
		t.Errorf("ping %s -> %s after the delete: %+v %v", a.Name, b.Name, st, err)
	}
}

// waitWithdrawn waits until host h has neither a route nor a kernel entry
// for pod p.
func waitWithdrawn(ctx context.Context, h *lab.Host, p *lab.Pod) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return lab.Eventually(ctx, fmt.Sprintf("%s to forget %s", h.Name, p.Name), 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		left, err := leftovers(ctx, h, p)
		if err != nil {
			return false, err
		}
		if len(left) > 0 {
			return false, fmt.Errorf("still has %v", left)
		}
		return true, nil
	})
}

// leftovers lists what host h still has of pod p: type-2 routes, FDB
// entries, the neighbour entry.
func leftovers(ctx context.Context, h *lab.Host, p *lab.Pod) ([]string, error) {
	var left []string
	routes, err := h.Routes(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.Type == "type-2" && (r.MAC == p.MAC || r.IP == p.IP.String()) {
			left = append(left, fmt.Sprintf("route %s %s %s from %s", r.Type, r.MAC, r.IP, r.Source))
		}
	}
	fdb, err := lab.ReadFDB(ctx, h.NS, lab.VXLANDev)
	if err != nil {
		return nil, err
	}
	for _, e := range lab.FindFDB(fdb, p.MAC) {
		left = append(left, "fdb "+e.String())
	}
	neigh, err := lab.ReadNeigh(ctx, h.NS, lab.BridgeDev)
	if err != nil {
		return nil, err
	}
	if n, ok := lab.FindNeigh(neigh, p.IP.String()); ok {
		left = append(left, "neigh "+n.String())
	}
	return left, nil
}
