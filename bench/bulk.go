package bench

import (
	"context"
	"fmt"
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

// refIP is the reference's endpoint i's address: 10.244.56.1 up to
// 10.244.127.250, below ours (bulkIP) and above the lab's host blocks.
func (b batch) refIP(i int) string  { return fmt.Sprintf("10.244.%d.%d", 56+i/250, 1+i%250) }
func (b batch) refMAC(i int) string { return bulkMAC(0xf1+byte(b.k), i) }
func (b batch) oursPrefix() string  { return fmt.Sprintf("02:%02x:", 0xb1+b.k) }
func (b batch) refPrefix() string   { return fmt.Sprintf("02:%02x:", 0xf1+b.k) }

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

// bulkAll measures each size in turn in the same lab, samples times each.
// Before every sample but the first, the previous batch is removed on
// both sides (local-API DelEndpoint plus the store records on h1, `neigh
// del` and `fdb del` on f1) and the run waits until no host holds
// any of it and the daemons are quiet, so every sample starts from the
// same baseline.
func bulkAll(ctx context.Context, l *lab.Lab, sizes []int, samples int, logf func(string, ...any)) []Row {
	var rows []Row
	var prev *batch
	for k, n := range sizes {
		b := batch{k, n}
		r := bulk(ctx, l, b, samples, &prev, logf)
		rows = append(rows, r)
		if r.Err != "" && prev != nil {
			// A batch that could not be removed spoils what follows.
			for _, n := range sizes[k+1:] {
				rows = append(rows, errRow(WhatBulk(n), refFRR, fmt.Errorf("after the n=%d row failed: %s", b.n, r.Err)))
			}
			return rows
		}
	}
	return rows
}

// bulk announces n endpoints at once on h1 through the agent's local API
// (what vxbgp-cni does after it wired a pod, without the veths) and times
// until h2 has all n remote FDB entries and their n neighbours; the
// reference adds n static MACs on f1's bridge with one `bridge -batch` and
// their n addresses as neighbours on its SVI with one `ip -batch` (zebra
// then advertises a MAC and a MAC+IP type-2 for each), until f2 has all n
// FDB entries and n neighbours. Both sides carry the same: n endpoints
// with a MAC and an address each. Samples alternate which side goes
// first; after each side the run waits until the other host of the pair
// that also peers with it (f1 for ours, h1 for FRR's) holds all n and the
// daemons are quiet, so neither side is timed while the machine still
// works for the other. *prev is the batch left
// in the lab, removed before each sample.
func bulk(ctx context.Context, l *lab.Lab, b batch, samples int, prev **batch, logf func(string, ...any)) Row {
	row := Row{What: WhatBulk(b.n), Unit: "ms", RefName: refFRR}
	h1, h2, f1, f2 := l.Host(1), l.Host(2), l.FRR[0], l.FRR[1]
	daemons := []int{h1.PID(), h2.PID()}
	for _, f := range []*lab.FRRHost{f1, f2} {
		p, err := frrPIDs(f.Name, f.PIDs())
		if err != nil {
			row.Err = err.Error()
			return row
		}
		daemons = append(daemons, p...)
	}
	var ours, refs, puts, records, cmds, removed, settled []time.Duration
	// done waits until ns holds all n FDB entries of prefix towards dst
	// and their n neighbours on bridge, then until the daemons are quiet.
	done := func(ctx context.Context, ns, bridge, dst, prefix string) error {
		start := time.Now()
		err := lab.Eventually(ctx, fmt.Sprintf("%s to hold all %d %s*", ns, b.n, prefix), 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			have, err := countFDB(ctx, ns, dst, prefix)
			if err != nil || have < b.n {
				return false, fmt.Errorf("has %d FDB entries (err %v)", have, err)
			}
			have, err = countNeigh(ctx, ns, bridge, prefix)
			return err == nil && have >= b.n, fmt.Errorf("has %d neighbours (err %v)", have, err)
		})
		if err != nil {
			return err
		}
		if _, err := settle(ctx, daemons, time.Minute); err != nil {
			return err
		}
		settled = append(settled, time.Since(start))
		return nil
	}
	runOurs := func() error {
		d, put, rec, err := bulkOurs(ctx, l, b)
		if err != nil {
			return err
		}
		ours, puts, records = append(ours, d), append(puts, put), append(records, rec)
		return done(ctx, f1.NS, lab.FRRBridge, h1.Addr, b.oursPrefix())
	}
	runRef := func() error {
		d, cmd, err := bulkFRR(ctx, l, b)
		if err != nil {
			return fmt.Errorf("ref: %w", err)
		}
		refs, cmds = append(refs, d), append(cmds, cmd)
		return done(ctx, h1.NS, lab.BridgeDev, f1.Addr, b.refPrefix())
	}
	err := func() error {
		for s := range samples {
			if *prev != nil {
				d, err := bulkRemove(ctx, l, **prev, logf)
				if err != nil {
					return fmt.Errorf("removing the n=%d batch: %w", (*prev).n, err)
				}
				removed = append(removed, d)
				*prev = nil
			}
			if _, err := settle(ctx, daemons, time.Minute); err != nil {
				return err
			}
			*prev = &b
			first, second := runOurs, runRef
			if s%2 == 1 {
				first, second = runRef, runOurs
			}
			if err := first(); err != nil {
				return err
			}
			if err := second(); err != nil {
				return err
			}
		}
		return nil
	}()
	row = latencyRow(row.What, row.RefName, ours, refs)
	if err != nil {
		row.Err = err.Error()
	}
	round := func(ds []time.Duration) []time.Duration {
		out := make([]time.Duration, len(ds))
		for i, d := range ds {
			out[i] = d.Round(time.Millisecond)
		}
		return out
	}
	row.Note = fmt.Sprintf("%s, alternating which side goes first; ours: %d records written and local-API PUTs (8 parallel, took %v, of which writing the record files %v) from the first PUT until h2 has all %d FDB entries and neighbours (MACs %s*); ref: %d static MACs (%s*) in one `bridge -batch` and their addresses as permanent neighbours on the SVI in one `ip -batch` on f1 (the two took %v; zebra advertises a MAC and a MAC+IP route for each) from the first's start until f2 has all the FDB entries and neighbours; after each side, until f1 (ours) or h1 (ref) also held all and the daemons were quiet: %v; before each sample the previous batch removed on both sides and every host back to baseline: %v",
		nSamples(len(ours)), b.n, round(puts), round(records), b.n, b.oursPrefix(), b.n, b.refPrefix(), round(cmds), round(settled), round(removed))
	return row
}

// parallelism is how many goroutines parallel runs: the bench's stand-in
// for concurrent CNI plugin processes.
const parallelism = 8

// parallel runs f(i) for i in [0, n) on parallelism goroutines and returns
// the first error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	errs := make(chan error, parallelism)
	var wg sync.WaitGroup
	for range parallelism {
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

// bulkOurs returns the time until h2 has all, how long the PUT phase
// took, and the time the workers spent writing record files (summed over
// the workers, divided by their number: the phase's share of it).
func bulkOurs(ctx context.Context, l *lab.Lab, b batch) (total, put, records time.Duration, err error) {
	h1, h2 := l.Host(1), l.Host(2)
	w, err := lab.WatchNeigh(h2.NS, programmedWithPrefix(b.oursPrefix()))
	if err != nil {
		return 0, 0, 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, bulkTimeout(b.n))
	defer cancel()
	c := localapi.NewClient(h1.Socket)
	// The record files are timed apart from the PUTs: on a slow disk they
	// are most of the phase, and FRR's side writes none.
	var inRecords atomic.Int64
	if err := recordDir(h1, lab.NetworkName); err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	err = parallel(b.n, func(i int) error {
		ep := b.endpoint(i)
		t := time.Now()
		if err := record(h1, ep); err != nil {
			return err
		}
		inRecords.Add(int64(time.Since(t)))
		return c.AddEndpoint(ctx, ep)
	})
	put = time.Since(start)
	records = time.Duration(inRecords.Load() / parallelism)
	if err != nil {
		return 0, put, records, err
	}
	at, err := w.WaitCount(ctx, 2*b.n)
	if err != nil {
		// Tell a lost notification from a missing entry.
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer kcancel()
		have, kerr := countFDB(kctx, h2.NS, h1.Addr, b.oursPrefix())
		eps, _ := h1.Endpoints(kctx)
		return 0, put, records, fmt.Errorf("after PUTs took %v: %w; h2's kernel has %d of the %d entries (read err %v), h1 has %d endpoints",
			put.Round(time.Millisecond), err, have, b.n, kerr, len(eps))
	}
	return at.Sub(start), put, records, nil
}

// bulkFRR returns the time until f2 has all, and how long f1's two
// commands took.
func bulkFRR(ctx context.Context, l *lab.Lab, b batch) (total, cmds time.Duration, err error) {
	f1, f2 := l.FRR[0], l.FRR[1]
	w, err := lab.WatchNeigh(f2.NS, programmedWithPrefix(b.refPrefix()))
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, bulkTimeout(b.n))
	defer cancel()
	fdb, neigh := make([]string, b.n), make([]string, b.n)
	for i := range fdb {
		fdb[i] = "fdb add " + b.refMAC(i) + " dev s1 master static"
		// Permanent: the kernel neither ages nor garbage-collects it (10,000
		// reachable ones would pass gc_thresh3), and zebra takes it as a
		// local neighbour all the same.
		neigh[i] = "neigh add " + b.refIP(i) + " lladdr " + b.refMAC(i) + " dev " + lab.FRRBridge + " nud permanent"
	}
	start := time.Now()
	if err := bridgeBatch(ctx, f1.NS, fdb); err != nil {
		return 0, 0, err
	}
	if err := ipBatch(ctx, f1.NS, neigh); err != nil {
		return 0, 0, err
	}
	cmds = time.Since(start)
	at, err := w.WaitCount(ctx, 2*b.n)
	if err != nil {
		return 0, cmds, err
	}
	return at.Sub(start), cmds, nil
}
