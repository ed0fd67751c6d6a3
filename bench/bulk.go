package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

func bulkNames(sizes []int) []string {
	var out []string
	for _, n := range sizes {
		out = append(out, WhatBulk(n))
	}
	return out
}

// batch is one bulk size's endpoints: batch k's MACs are 02:<b1+k>:... on
// h1 and 02:<f1+k>:... on f1, so each size counts only its own entries.
type batch struct {
	k, n int
}

func (b batch) oursMAC(i int) string { return bulkMAC(0xb1+byte(b.k), i) }
func (b batch) refMAC(i int) string  { return bulkMAC(0xf1+byte(b.k), i) }
func (b batch) oursPrefix() string   { return fmt.Sprintf("02:%02x:", 0xb1+b.k) }
func (b batch) refPrefix() string    { return fmt.Sprintf("02:%02x:", 0xf1+b.k) }

func (b batch) endpoint(i int) localapi.Endpoint {
	return localapi.Endpoint{
		ContainerID: fmt.Sprintf("bulk%02d%08d", b.k, i), IfName: "eth0", Network: lab.NetworkName,
		MAC: b.oursMAC(i), IPs: []string{bulkIP(i)},
	}
}

// bulkIP is endpoint i's address; batches reuse them, one after the
// other's removal.
func bulkIP(i int) string { return fmt.Sprintf("10.244.%d.%d", 128+i/250, 1+i%250) }

func bulkMAC(pfx byte, i int) string {
	return fmt.Sprintf("02:%02x:00:%02x:%02x:%02x", pfx, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

// bulkTimeout bounds one side of one size: at least 2 minutes, more for
// large sizes.
func bulkTimeout(n int) time.Duration { return 2*time.Minute + time.Duration(n)*6*time.Millisecond }

// bulkAll measures each size in turn in the same lab. Between two sizes
// the previous batch is removed on both sides (local-API DelEndpoint plus
// the store records on h1, `fdb del` of the static MACs on f1) and the run
// waits until h1 lists none of its endpoints and h2 and f2 hold none of
// its entries, so every size starts from the same baseline.
func bulkAll(ctx context.Context, l *lab.Lab, sizes []int, logf func(string, ...any)) []Row {
	var rows []Row
	for k, n := range sizes {
		var removed time.Duration
		if k > 0 {
			prev := batch{k - 1, sizes[k-1]}
			var err error
			if removed, err = bulkRemove(ctx, l, prev, logf); err != nil {
				for _, n := range sizes[k:] {
					rows = append(rows, errRow(WhatBulk(n), refFRR, fmt.Errorf("removing the n=%d batch: %w", prev.n, err)))
				}
				return rows
			}
		}
		r := bulk(ctx, l, batch{k, n})
		if k > 0 {
			r.Note += fmt.Sprintf("; before it the n=%d batch was removed on both sides and h1, h2 and f2 were back to baseline after %v",
				sizes[k-1], removed.Round(time.Millisecond))
		}
		rows = append(rows, r)
	}
	return rows
}

// bulk announces n endpoints at once on h1 through the agent's local API
// (what vxbgp-cni does after it wired a pod, without the veths) and times
// until h2 has all n remote FDB entries; the reference adds n static MACs
// on f1's bridge with one `bridge -batch` until f2 has all n.
func bulk(ctx context.Context, l *lab.Lab, b batch) Row {
	row := Row{What: WhatBulk(b.n), Unit: "ms", RefName: refFRR, N: 1}
	ours, put, err := bulkOurs(ctx, l, b)
	if err != nil {
		row.Err = err.Error()
	}
	ref, rerr := bulkFRR(ctx, l, b)
	if rerr != nil {
		row.Err = strings.TrimPrefix(fmt.Sprintf("%s; ref: %v", row.Err, rerr), "; ")
	}
	row.Ours, row.OursP99 = medianP99([]time.Duration{ours})
	row.Ref, row.RefP99 = medianP99([]time.Duration{ref})
	if row.Ref > 0 && row.Ours > 0 {
		row.Ratio = row.Ours / row.Ref
	}
	row.Note = fmt.Sprintf("one sample each; ours: %d local-API PUTs (8 parallel, took %v) from the first PUT until h2 has all %d (MACs %s*); ref: %d static MACs (%s*) in one `bridge -batch` on f1 from its start until f2 has all",
		b.n, put.Round(time.Millisecond), b.n, b.oursPrefix(), b.n, b.refPrefix())
	return row
}

// parallel runs f(i) for i in [0, n) on 8 goroutines and returns the first
// error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func bulkOurs(ctx context.Context, l *lab.Lab, b batch) (total, put time.Duration, err error) {
	h1, h2 := l.Host(1), l.Host(2)
	w, err := lab.WatchNeigh(h2.NS, remoteFDBWithPrefix(b.oursPrefix()))
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, bulkTimeout(b.n))
	defer cancel()
	c := localapi.NewClient(h1.Socket)
	start := time.Now()
	err = parallel(b.n, func(i int) error { return announce(ctx, h1, c, b.endpoint(i)) })
	put = time.Since(start)
	if err != nil {
		return 0, put, err
	}
	at, err := w.WaitCount(ctx, b.n)
	if err != nil {
		// Tell a lost notification from a missing entry.
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer kcancel()
		have, kerr := countFDB(kctx, h2.NS, h1.Addr, b.oursPrefix())
		eps, _ := h1.Endpoints(kctx)
		return 0, put, fmt.Errorf("after PUTs took %v: %w; h2's kernel has %d of the %d entries (read err %v), h1 has %d endpoints",
			put.Round(time.Millisecond), err, have, b.n, kerr, len(eps))
	}
	return at.Sub(start), put, nil
}

func bulkFRR(ctx context.Context, l *lab.Lab, b batch) (time.Duration, error) {
	f1, f2 := l.FRR[0], l.FRR[1]
	w, err := lab.WatchNeigh(f2.NS, remoteFDBWithPrefix(b.refPrefix()))
	if err != nil {
		return 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, bulkTimeout(b.n))
	defer cancel()
	lines := make([]string, b.n)
	for i := range lines {
		lines[i] = "fdb add " + b.refMAC(i) + " dev s1 master static"
	}
	start := time.Now()
	if err := bridgeBatch(ctx, f1.NS, lines); err != nil {
		return 0, err
	}
	at, err := w.WaitCount(ctx, b.n)
	if err != nil {
		return 0, err
	}
	return at.Sub(start), nil
}

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

// bulkRemove removes batch b on both sides and waits until h1 lists none
// of its endpoints, h2 holds none of its FDB or neighbour entries and f2
// none of f1's MACs of the batch.
func bulkRemove(ctx context.Context, l *lab.Lab, b batch, logf func(string, ...any)) (time.Duration, error) {
	h1, h2, f1, f2 := l.Host(1), l.Host(2), l.FRR[0], l.FRR[1]
	ctx, cancel := context.WithTimeout(ctx, bulkTimeout(b.n))
	defer cancel()
	start := time.Now()
	c := localapi.NewClient(h1.Socket)
	if err := parallel(b.n, func(i int) error { return withdraw(ctx, h1, c, b.endpoint(i)) }); err != nil {
		return 0, err
	}
	lines := make([]string, b.n)
	for i := range lines {
		lines[i] = "fdb del " + b.refMAC(i) + " dev s1 master static"
	}
	if err := bridgeBatch(ctx, f1.NS, lines); err != nil {
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
		neigh, err := lab.ReadNeigh(ctx, h2.NS, lab.BridgeDev)
		if err != nil {
			return false, err
		}
		for _, n := range neigh {
			if strings.HasPrefix(strings.ToLower(n.LLAddr), b.oursPrefix()) {
				return false, fmt.Errorf("h2 still has neighbour %s", n)
			}
		}
		if n, err := countFDB(ctx, f2.NS, f1.Addr, b.refPrefix()); err != nil || n > 0 {
			return false, fmt.Errorf("f2 still has %d FDB entries (err %v)", n, err)
		}
		return true, nil
	})
	return time.Since(start), err
}
