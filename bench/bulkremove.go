package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// countFDB counts ns's remote vxlan FDB entries towards dst whose MAC
// starts with prefix.
func countFDB(ctx context.Context, ns, dst, prefix string) (int, error) {
	fdb, err := lab.ReadFDB(ctx, ns, lab.VXLANDev)
	n := 0
	for _, e := range fdb {
		if e.Dst == dst && strings.HasPrefix(strings.ToLower(e.MAC), prefix) {
			n++
		}
	}
	return n, err
}

// countNeigh counts ns's neighbours on bridge whose MAC starts with
// prefix.
func countNeigh(ctx context.Context, ns, bridge, prefix string) (int, error) {
	neigh, err := lab.ReadNeigh(ctx, ns, bridge)
	n := 0
	for _, e := range neigh {
		if strings.HasPrefix(strings.ToLower(e.LLAddr), prefix) {
			n++
		}
	}
	return n, err
}

// bulkRemove removes batch b on both sides and waits until h1 lists none
// of its endpoints, h2 and f1 hold none of its FDB entries and
// neighbours, and f1, f2 and h1 none of the reference's.
func bulkRemove(ctx context.Context, l *lab.Lab, b batch, logf func(string, ...any)) (time.Duration, error) {
	h1, h2, f1, f2 := l.Host(1), l.Host(2), l.FRR[0], l.FRR[1]
	ctx, cancel := context.WithTimeout(ctx, bulkTimeout(b.n))
	defer cancel()
	start := time.Now()
	c := localapi.NewClient(h1.Socket)
	if err := parallel(b.n, func(i int) error { return withdraw(ctx, h1, c, b.endpoint(i)) }); err != nil {
		return 0, err
	}
	fdb, neigh := make([]string, b.n), make([]string, b.n)
	for i := range fdb {
		fdb[i] = "fdb del " + b.refMAC(i) + " dev s1 master static"
		neigh[i] = "neigh del " + b.refIP(i) + " dev " + lab.FRRBridge
	}
	if err := ipBatch(ctx, f1.NS, neigh); err != nil {
		return 0, fmt.Errorf("f1: %w", err)
	}
	if err := bridgeBatch(ctx, f1.NS, fdb); err != nil {
		return 0, fmt.Errorf("f1: %w", err)
	}
	logf("bulk: n=%d batch deleted on h1 and f1 after %v; waiting for h1, h2 and f2", b.n, time.Since(start).Round(time.Millisecond))
	last := time.Now()
	idPrefix := b.endpoint(0).ContainerID[:6]
	err := lab.Eventually(ctx, fmt.Sprintf("the n=%d batch to be gone from h1, h2 and f2", b.n), 200*time.Millisecond, func(ctx context.Context) (ok bool, err error) {
		defer func() {
			if err != nil && time.Since(last) > 2*time.Second {
				logf("bulk: after %v: %v", time.Since(start).Round(time.Millisecond), err)
				last = time.Now()
			}
		}()
		eps, err := h1.Endpoints(ctx)
		if err != nil {
			return false, err
		}
		left := 0
		for _, ep := range eps {
			if strings.HasPrefix(ep.ContainerID, idPrefix) {
				left++
			}
		}
		if left > 0 {
			return false, fmt.Errorf("h1 still lists %d endpoints", left)
		}
		if n, err := countFDB(ctx, h2.NS, h1.Addr, b.oursPrefix()); err != nil || n > 0 {
			return false, fmt.Errorf("h2 still has %d FDB entries (err %v)", n, err)
		}
		if n, err := countFDB(ctx, f2.NS, f1.Addr, b.refPrefix()); err != nil || n > 0 {
			return false, fmt.Errorf("f2 still has %d FDB entries (err %v)", n, err)
		}
		// What the other peer of each announcer installed too.
		if n, err := countFDB(ctx, f1.NS, h1.Addr, b.oursPrefix()); err != nil || n > 0 {
			return false, fmt.Errorf("f1 still has %d of h1's FDB entries (err %v)", n, err)
		}
		if n, err := countFDB(ctx, h1.NS, f1.Addr, b.refPrefix()); err != nil || n > 0 {
			return false, fmt.Errorf("h1 still has %d of f1's FDB entries (err %v)", n, err)
		}
		// And every host's neighbours of both batches.
		for _, x := range []struct {
			name, ns, bridge, prefix string
		}{
			{"h2", h2.NS, lab.BridgeDev, b.oursPrefix()}, {"f1", f1.NS, lab.FRRBridge, b.oursPrefix()},
			{"f1", f1.NS, lab.FRRBridge, b.refPrefix()}, {"f2", f2.NS, lab.FRRBridge, b.refPrefix()},
			{"h1", h1.NS, lab.BridgeDev, b.refPrefix()},
		} {
			if n, err := countNeigh(ctx, x.ns, x.bridge, x.prefix); err != nil || n > 0 {
				return false, fmt.Errorf("%s still has %d neighbours %s* (err %v)", x.name, n, x.prefix, err)
			}
		}
		return true, nil
	})
	return time.Since(start), err
}
