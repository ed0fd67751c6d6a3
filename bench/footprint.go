package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/e2e/lab"
)

// footprint tops h1 up to 100 local endpoints (pods left from the
// convergence run plus local-API endpoints), lets it settle, and samples
// vxbgpd's RSS and CPU over a window; the reference is f1's zebra + bgpd
// over the same window.
func footprint(ctx context.Context, l *lab.Lab, window time.Duration) []Row {
	rss := Row{What: WhatRSS, Unit: "MB", RefName: refFRRDaemons, N: 1}
	cpu := Row{What: WhatCPU, Unit: "% of a core", RefName: refFRRDaemons, N: 1}
	fail := func(err error) []Row {
		rss.Err, cpu.Err = err.Error(), err.Error()
		return []Row{rss, cpu}
	}
	h1 := l.Host(1)
	eps, err := h1.Endpoints(ctx)
	if err != nil {
		return fail(err)
	}
	c := localapi.NewClient(h1.Socket)
	for i := len(eps); i < 100; i++ {
		ep := localapi.Endpoint{
			ContainerID: fmt.Sprintf("idle%04d", i), IfName: "eth0", Network: lab.NetworkName,
			MAC: fmt.Sprintf("02:1d:00:00:00:%02x", i), IPs: []string{fmt.Sprintf("10.244.100.%d", 1+i)},
		}
		if err := announce(ctx, h1, c, ep); err != nil {
			return fail(err)
		}
	}
	peers, _ := h1.Peers(ctx)
	select {
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(2 * time.Second):
	}
	ours := []int{h1.PID()}
	var ref []int
	for _, p := range l.FRR[0].PIDs() {
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
	rss.Note = fmt.Sprintf("h1 vxbgpd with 100 endpoints, %d peers; ref: f1 zebra+bgpd (1 local MAC, its own peers)", len(peers))
	cpu.Note = fmt.Sprintf("over %v idle", window)
	return []Row{rss, cpu}
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
