package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// footprint tops h1 up to 100 local endpoints (pods left from the
// convergence and data-plane runs plus local-API endpoints) and f1 up to
// 100 local MACs (its server, the convergence MACs plus static MACs on its
// server port), checks that each has exactly 2 established BGP peers, lets
// them settle, and samples vxbgpd's RSS and CPU over a window; the
// reference is f1's zebra + bgpd over the same window.
func footprint(ctx context.Context, l *lab.Lab, window time.Duration) []Row {
	const endpoints, wantPeers = 100, 2
	rss := Row{What: WhatRSS, Unit: "MB", RefName: refFRRDaemons, N: 1}
	cpu := Row{What: WhatCPU, Unit: "% of a core", RefName: refFRRDaemons, N: 1}
	fail := func(err error) []Row {
		rss.Err, cpu.Err = err.Error(), err.Error()
		return []Row{rss, cpu}
	}
	h1, f1 := l.Host(1), l.FRR[0]
	eps, err := h1.Endpoints(ctx)
	if err != nil {
		return fail(err)
	}
	c := localapi.NewClient(h1.Socket)
	for i := len(eps); i < endpoints; i++ {
		ep := localapi.Endpoint{
			ContainerID: fmt.Sprintf("idle%04d", i), IfName: "eth0", Network: lab.NetworkName,
			MAC: fmt.Sprintf("02:1d:00:00:00:%02x", i), IPs: []string{fmt.Sprintf("10.244.100.%d", 1+i)},
		}
		if err := announce(ctx, h1, c, ep); err != nil {
			return fail(err)
		}
	}
	macs, err := frrLocalMACs(ctx, f1)
	if err != nil {
		return fail(err)
	}
	var lines []string
	for i := macs; i < endpoints; i++ {
		lines = append(lines, fmt.Sprintf("fdb add 02:1f:00:00:00:%02x dev s1 master static", i))
	}
	if len(lines) > 0 {
		if err := bridgeBatch(ctx, f1.NS, lines); err != nil {
			return fail(fmt.Errorf("f1: %w", err))
		}
	}
	select {
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(2 * time.Second):
	}
	// What each side holds now, as it says itself.
	if eps, err = h1.Endpoints(ctx); err != nil {
		return fail(err)
	}
	peers, err := h1.Peers(ctx)
	if err != nil {
		return fail(err)
	}
	var up []string
	for _, p := range peers {
		if p.State == "established" {
			up = append(up, p.Address)
		}
	}
	if macs, err = frrLocalMACs(ctx, f1); err != nil {
		return fail(err)
	}
	nbrs, err := f1.Neighbours(ctx)
	if err != nil {
		return fail(err)
	}
	var refUp []string
	for a, s := range nbrs {
		if s == "Established" {
			refUp = append(refUp, a)
		}
	}
	slices.Sort(refUp)
	rss.Note = fmt.Sprintf("h1 vxbgpd: %d local endpoints, %d established BGP peers %v of %d configured (local API: endpoints, peers); ref: f1 zebra+bgpd: %d local MACs (static on its server port), %d established BGP peers %v of %d neighbours (show bgp neighbors); counted just before the window",
		len(eps), len(up), up, len(peers), macs, len(refUp), refUp, len(nbrs))
	if len(up) != wantPeers || len(eps) < endpoints || len(refUp) != wantPeers || macs < endpoints {
		return fail(fmt.Errorf("not the setup the rows name (want %d peers and %d endpoints on each side): %s", wantPeers, endpoints, rss.Note))
	}
	ours := []int{h1.PID()}
	var ref []int
	for _, p := range f1.PIDs() {
		ref = append(ref, p)
	}
	t0o, t0r := ticks(ours), ticks(ref)
	start := time.Now()
	select {
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(window):
	}
	el := time.Since(start).Seconds()
	t1o, t1r := ticks(ours), ticks(ref)
	// USER_HZ is 100 on Linux.
	cpu.Ours = float64(t1o-t0o) / 100 / el * 100
	cpu.Ref = float64(t1r-t0r) / 100 / el * 100
	rss.Ours, rss.Ref = rssMB(ours), rssMB(ref)
	for _, r := range []*Row{&rss, &cpu} {
		if r.Ref > 0 {
			r.Ratio = r.Ours / r.Ref
		}
	}
	cpu.Note = fmt.Sprintf("over %v idle, same setup as the RSS row", window)
	return []Row{rss, cpu}
}

// frrLocalMACs counts the static (not permanent) FDB entries on f's
// server port s1: the local MACs zebra advertises.
func frrLocalMACs(ctx context.Context, f *lab.FRRHost) (int, error) {
	out, err := lab.Bridge(ctx, f.NS, "-j", "fdb", "show", "dev", "s1")
	if err != nil {
		return 0, err
	}
	var list []lab.FDBEntry
	if s := strings.TrimSpace(out); s != "" {
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return 0, fmt.Errorf("decode fdb of s1 on %s: %w", f.Name, err)
		}
	}
	n := 0
	for _, e := range list {
		if e.State == "static" && e.Master != "" {
			n++
		}
	}
	return n, nil
}

// ticks sums utime+stime of pids from /proc/PID/stat.
func ticks(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command name; utime and stime
		// are fields 14 and 15 of the whole line.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 13 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			sum += u + st
		}
	}
	return sum
}

// rssMB sums VmRSS of pids.
func rssMB(pids []int) float64 {
	var kb int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				kb += n
			}
		}
	}
	return float64(kb) / 1024
}
