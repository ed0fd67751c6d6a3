package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// convergence: pod c<i> on h1 until h2 has its FDB and neighbour entries,
// interleaved with a static MAC and its address on f1's bridge until f2
// has the remote FDB entry and neighbour: the same endpoint on both sides.
// One endpoint each goes first unmeasured: FRR's first MAC+IP route of the
// VNI took ~1 s every run, the later ones 50-60 ms.
func convergence(ctx context.Context, l *lab.Lab, n int) Row {
	h1, h2 := l.Host(1), l.Host(2)
	f1, f2 := l.FRR[0], l.FRR[1]
	if _, err := podConvergence(ctx, l, h1, h2, "cwarm"); err != nil {
		return errRow(WhatConv, refFRR, fmt.Errorf("warm-up: %w", err))
	}
	if _, err := frrConvergence(ctx, f1, f2, "02:be:00:00:ff:ff", convRefIP(250)); err != nil {
		return errRow(WhatConv, refFRR, fmt.Errorf("warm-up: %w", err))
	}
	var ours, refs []time.Duration
	for i := range n {
		d, err := podConvergence(ctx, l, h1, h2, fmt.Sprintf("c%d", i))
		if err != nil {
			return errRow(WhatConv, refFRR, err)
		}
		ours = append(ours, d)
		d, err = frrConvergence(ctx, f1, f2, fmt.Sprintf("02:be:00:00:%02x:%02x", i>>8, i&0xff), convRefIP(i))
		if err != nil {
			return errRow(WhatConv, refFRR, err)
		}
		refs = append(refs, d)
	}
	r := latencyRow(WhatConv, refFRR, ours, refs)
	r.Note = "ref: `bridge fdb add MAC dev s1 master static` and `ip neigh add IP lladdr MAC dev br100 nud permanent` on f1 -> the FDB entry and the neighbour on f2 (zebra advertises a MAC and a MAC+IP route); one endpoint each side first, unmeasured"
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

// convRefIP is the address of the reference's convergence endpoint i
// (i < 255), below the bulk reference's (batch.refIP).
func convRefIP(i int) string { return fmt.Sprintf("10.244.55.%d", 1+i) }

// frrConvergence adds an endpoint on from's bridge as a host behind it
// appears to zebra: its MAC on the server port, then its address as a
// neighbour on the SVI (permanent, as the bulk reference's); it times
// until to has both the FDB entry and the neighbour.
func frrConvergence(ctx context.Context, from, to *lab.FRRHost, mac, ip string) (time.Duration, error) {
	return watched(ctx, to.NS, func(ctx context.Context, w kernelWatch) (time.Duration, error) {
		start := time.Now()
		if _, err := lab.Bridge(ctx, from.NS, "fdb", "add", mac, "dev", "s1", "master", "static"); err != nil {
			return 0, err
		}
		if _, err := lab.IP(ctx, from.NS, "neigh", "add", ip, "lladdr", mac, "dev", lab.FRRBridge, "nud", "permanent"); err != nil {
			return 0, err
		}
		tf, err := w.WaitFDB(ctx, mac, from.Addr)
		if err != nil {
			return 0, fmt.Errorf("frr %s: %w", to.Name, err)
		}
		tn, err := w.WaitNeigh(ctx, ip, mac)
		if err != nil {
			return 0, fmt.Errorf("frr %s: %w", to.Name, err)
		}
		if tn.After(tf) {
			tf = tn
		}
		return tf.Sub(start), nil
	})
}
