package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/e2e/lab"
)

// bulk announces n endpoints at once on h1 through the agent's local API
// (what vxbgp-cni does after it wired a pod, without the veths) and times
// until h2 has all n remote FDB entries; the reference adds n static MACs
// on f1's bridge with one `bridge -batch` until f2 has all n.
func bulk(ctx context.Context, l *lab.Lab, n int) Row {
	what := fmt.Sprintf("%s, n=%d", WhatBulk, n)
	row := Row{What: what, Unit: "ms", RefName: refFRR, N: 1}
	ours, put, err := bulkOurs(ctx, l, n)
	if err != nil {
		row.Err = err.Error()
	}
	ref, rerr := bulkFRR(ctx, l, n)
	if rerr != nil {
		row.Err = fmt.Sprintf("%s ref: %v", row.Err, rerr)
	}
	row.Ours, row.OursP99 = medianP99([]time.Duration{ours})
	row.Ref, row.RefP99 = medianP99([]time.Duration{ref})
	if row.Ref > 0 && row.Ours > 0 {
		row.Ratio = row.Ours / row.Ref
	}
	row.Note = fmt.Sprintf("one sample each; ours: %d local-API PUTs (8 parallel, took %v) from the first PUT; ref: `bridge -batch` static MACs from its start", n, put.Round(time.Millisecond))
	return row
}

func bulkMAC(pfx byte, i int) string {
	return fmt.Sprintf("02:%02x:00:%02x:%02x:%02x", pfx, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

func bulkOurs(ctx context.Context, l *lab.Lab, n int) (total, put time.Duration, err error) {
	h1, h2 := l.Host(1), l.Host(2)
	w, err := lab.WatchKernel(h2.NS)
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c := localapi.NewClient(h1.Socket)
	var next atomic.Int64
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ep := localapi.Endpoint{
					ContainerID: fmt.Sprintf("bulk%08d", i), IfName: "eth0", Network: lab.NetworkName,
					MAC: bulkMAC(0xb1, i), IPs: []string{fmt.Sprintf("10.244.%d.%d", 128+i/250, 1+i%250)},
				}
				if err := announce(ctx, h1, c, ep); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	put = time.Since(start)
	select {
	case err := <-errs:
		return 0, put, err
	default:
	}
	at, err := w.WaitFDBCount(ctx, n)
	if err != nil {
		// Tell a lost notification from a missing entry.
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer kcancel()
		fdb, kerr := lab.ReadFDB(kctx, h2.NS, lab.VXLANDev)
		have := 0
		for _, e := range fdb {
			if e.Dst == h1.Addr && len(e.MAC) > 3 && e.MAC[:5] == "02:b1" {
				have++
			}
		}
		eps, _ := h1.Endpoints(kctx)
		return 0, put, fmt.Errorf("after PUTs took %v: %w; h2's kernel has %d of the %d entries (read err %v), h1 has %d endpoints",
			put.Round(time.Millisecond), err, have, n, kerr, len(eps))
	}
	return at.Sub(start), put, nil
}

func bulkFRR(ctx context.Context, l *lab.Lab, n int) (time.Duration, error) {
	f1, f2 := l.FRR[0], l.FRR[1]
	w, err := lab.WatchKernel(f2.NS)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	lines := make([]string, n)
	for i := range lines {
		lines[i] = "fdb add " + bulkMAC(0xf1, i) + " dev s1 master static"
	}
	start := time.Now()
	if err := lab.BridgeBatch(ctx, f1.NS, lines); err != nil {
		return 0, err
	}
	at, err := w.WaitFDBCount(ctx, n)
	if err != nil {
		return 0, err
	}
	return at.Sub(start), nil
}
