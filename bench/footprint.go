package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// footprint tops h1 up to 100 local endpoints (pods left from the
// convergence and data-plane runs plus local-API endpoints) and f1 up to
// 100 local MACs (its server, the convergence MACs plus static MACs on its
// server port), checks that each has exactly 2 established BGP peers, lets
// them settle, and samples vxbgpd's PSS and CPU over a window; the
// reference is f1's zebra + bgpd over the same window.
func footprint(ctx context.Context, l *lab.Lab, window time.Duration) []Row {
	const endpoints, wantPeers = 100, 2
	rss := Row{What: WhatRSS, Unit: "MB", RefName: refFRRDaemons}
	cpu := Row{What: WhatCPU, Unit: "% of a core", RefName: refFRRDaemons}
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
	ref, err := frrPIDs(f1.Name, f1.PIDs())
	if err != nil {
		return fail(err)
	}
	ours := []int{h1.PID()}
	daemons := append(slices.Clone(ours), ref...)
	if _, err := settle(ctx, daemons, time.Minute); err != nil {
		return fail(err)
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
	// Samples sub-windows of the window: CPU in each (schedstat, ns),
	// PSS at the end of each.
	var cpuO, cpuR, pssO, pssR []float64
	var rssO, rssR float64
	sub := window / footprintSamples
	for range footprintSamples {
		o0, err := cpuNow(ours)
		if err != nil {
			return fail(err)
		}
		r0, err := cpuNow(ref)
		if err != nil {
			return fail(err)
		}
		start := time.Now()
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(sub):
		}
		o1, err := cpuNow(ours)
		if err != nil {
			return fail(err)
		}
		r1, err := cpuNow(ref)
		if err != nil {
			return fail(err)
		}
		el := float64(time.Since(start).Nanoseconds())
		cpuO = append(cpuO, 100*float64(o1.since(o0))/el)
		cpuR = append(cpuR, 100*float64(r1.since(r0))/el)
		po, err := pssMB(ours)
		if err != nil {
			return fail(err)
		}
		pr, err := pssMB(ref)
		if err != nil {
			return fail(err)
		}
		pssO, pssR = append(pssO, po), append(pssR, pr)
		if rssO, err = rssMB(ours); err != nil {
			return fail(err)
		}
		if rssR, err = rssMB(ref); err != nil {
			return fail(err)
		}
	}
	note := rss.Note
	rss = sampleRow(WhatRSS, refFRRDaemons, "MB", pssO, pssR)
	rss.Note = fmt.Sprintf("PSS (smaps_rollup), median of %d samples %v apart; RSS at the end %.1f MB ours, %.1f MB ref (RSS counts the libraries zebra and bgpd share once per process; PSS splits pages shared with the lab's other instance of the same daemon, h2's vxbgpd and f2's FRR alike); %s",
		footprintSamples, sub, rssO, rssR, note)
	cpu = sampleRow(WhatCPU, refFRRDaemons, "% of a core", cpuO, cpuR)
	cpu.Note = fmt.Sprintf("time on CPU from /proc/PID/task/*/schedstat (ns, every thread), vxbgpd vs. zebra+bgpd summed, over %v idle in %d windows of %v (median, min–max); same setup as the RSS row",
		window, footprintSamples, sub)
	return []Row{rss, cpu}
}

// footprintSamples is how many windows the idle window is cut into.
const footprintSamples = 3

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
