package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// convergence: pod c<i> on h1 until h2 has its FDB and neighbour entries,
// interleaved with a static MAC on f1's bridge until f2 has the remote
// extern_learn entry.
func convergence(ctx context.Context, l *lab.Lab, n int) Row {
	h1, h2 := l.Host(1), l.Host(2)
	f1, f2 := l.FRR[0], l.FRR[1]
	var ours, refs []time.Duration
	for i := range n {
		d, err := podConvergence(ctx, l, h1, h2, fmt.Sprintf("c%d", i))
		if err != nil {
			return errRow(WhatConv, refFRR, err)
		}
		ours = append(ours, d)
		d, err = frrConvergence(ctx, f1, f2, fmt.Sprintf("02:be:00:00:%02x:%02x", i>>8, i&0xff))
		if err != nil {
			return errRow(WhatConv, refFRR, err)
		}
		refs = append(refs, d)
	}
	r := latencyRow(WhatConv, refFRR, ours, refs)
	r.Note = "ref: `bridge fdb add MAC dev s1 master static` on f1 -> extern_learn FDB entry on f2 (FRR installs no neigh here)"
	return r
}

// watched runs measure with a kernel watch on ns subscribed before it,
// under a 10 s deadline.
func watched(ctx context.Context, ns string, measure func(context.Context, kernelWatch) (time.Duration, error)) (time.Duration, error) {
	w, err := watchKernel(ns)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return measure(ctx, w)
}

func podConvergence(ctx context.Context, l *lab.Lab, from, to *lab.Host, name string) (time.Duration, error) {
	return watched(ctx, to.NS, func(ctx context.Context, w kernelWatch) (time.Duration, error) {
		// The clock starts when CNI ADD is exec'd, as the issue defines it:
		// creating the pod's netns is the runtime's work before the ADD.
		p, err := l.Pod(ctx, from, name)
		if err != nil {
			return 0, err
		}
		tf, err := w.WaitFDB(ctx, p.MAC, from.Addr)
		if err != nil {
			return 0, err
		}
		tn, err := w.WaitNeigh(ctx, p.IP.String(), p.MAC)
		if err != nil {
			return 0, err
		}
		if tn.After(tf) {
			tf = tn
		}
		return tf.Sub(p.AddStart), nil
	})
}

func frrConvergence(ctx context.Context, from, to *lab.FRRHost, mac string) (time.Duration, error) {
	return watched(ctx, to.NS, func(ctx context.Context, w kernelWatch) (time.Duration, error) {
		start := time.Now()
		if _, err := lab.Bridge(ctx, from.NS, "fdb", "add", mac, "dev", "s1", "master", "static"); err != nil {
			return 0, err
		}
		t, err := w.WaitFDB(ctx, mac, from.Addr)
		if err != nil {
			return 0, fmt.Errorf("frr %s: %w", to.Name, err)
		}
		return t.Sub(start), nil
	})
}
