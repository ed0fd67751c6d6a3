package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

type demoFlags struct {
	hosts, pods int
	keep        bool
	bin, root   string
	logLevel    string
	mode        string
}

// demo builds hosts × pods (the hosts find each other from one seed), waits
// for discovery and BGP, pings every ordered pod pair and prints the grid
// and host 1's routes and members. It exits 1 if any pair fails.
func demo(ctx context.Context, args []string) int {
	var f demoFlags
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	fs.IntVar(&f.hosts, "hosts", 3, "vxbgp hosts")
	fs.IntVar(&f.pods, "pods", 2, "pods per host")
	fs.BoolVar(&f.keep, "keep", os.Getenv("KEEP") == "1", "leave the lab running (also KEEP=1)")
	fs.StringVar(&f.bin, "bin", "bin", "directory with vxbgpd, vxbgpctl, vxbgp-cni")
	fs.StringVar(&f.root, "root", lab.DefaultRoot(), "lab root directory")
	fs.StringVar(&f.logLevel, "log-level", "info", "vxbgpd logLevel")
	fs.StringVar(&f.mode, "mode", "overlay", "vxbgpd mode: overlay or routed")
	_ = fs.Parse(args)
	if f.mode != "overlay" && f.mode != "routed" {
		fmt.Fprintf(os.Stderr, "demo: -mode must be overlay or routed, got %q\n", f.mode)
		return 2
	}
	if f.hosts < 2 || f.pods < 1 {
		fmt.Fprintln(os.Stderr, "demo: need -hosts >= 2 and -pods >= 1")
		return 2
	}
	bin, err := filepath.Abs(f.bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2
	}
	if !preflight(os.Stderr, bin) {
		return 1
	}
	start := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.2fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
	}
	// The whole demo must fit in 2 minutes; leave time for cleanup.
	rctx, cancel := context.WithTimeout(ctx, 100*time.Second)
	defer cancel()
	// Hosts know one seed (h1) and no BGP peer: they find each other by
	// gossip.
	l, err := lab.New(rctx, lab.Options{Hosts: f.hosts, BinDir: bin, Root: f.root, Mode: f.mode, LogLevel: f.logLevel, Logf: logf,
		Discovery: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	ok := runDemo(rctx, l, f, logf)
	printNext(os.Stdout, l, bin, f.keep)
	if !f.keep {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer ccancel()
		if err := l.Close(cctx); err != nil {
			fmt.Fprintf(os.Stderr, "demo: cleanup: %v\n", err)
			ok = false
		}
	}
	fmt.Printf("wall time: %v\n", time.Since(start).Round(time.Millisecond))
	if !ok {
		return 1
	}
	return 0
}

// runDemo is the part between build and cleanup; it reports success.
func runDemo(ctx context.Context, l *lab.Lab, f demoFlags, logf func(string, ...any)) bool {
	fail := func(err error) bool {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		if !errors.Is(err, context.Canceled) { // not an interrupt: show why
			fmt.Fprintf(os.Stderr, "agent logs:\n%s", l.LogTail(20))
		}
		return false
	}
	if _, err := l.WaitMembers(ctx, l.Hosts...); err != nil {
		return fail(err)
	}
	if _, err := l.WaitAllPeers(ctx); err != nil {
		return fail(err)
	}
	if f.mode == "routed" {
		return runRouted(ctx, l, f, fail)
	}
	// Every pod is timed from its CNI ADD until the next host (h1's pods on
	// h2, ...) has its FDB entry.
	fromStart, afterAdd, err := l.PodsWithLatency(ctx, f.pods)
	if err != nil {
		return fail(err)
	}
	conv, err := l.WaitConverged(ctx)
	if err != nil {
		return fail(err)
	}
	m, err := pingAndShow(ctx, l, fmt.Sprintf("%d hosts x %d pods", f.hosts, f.pods))
	if err != nil {
		return fail(err)
	}
	fmt.Printf("\nCNI ADD start  -> FDB entry on the next host: %s\n", lab.Summary(fromStart))
	fmt.Printf("CNI ADD return -> FDB entry on the next host: %s\n", lab.Summary(afterAdd))
	fmt.Printf("all FDBs converged %v after the last pod\n", conv.Round(time.Millisecond))
	return allOK(m)
}

// pingAndShow pings every ordered pod pair and prints the grid, and h1's
// routes and members as the agent lists them.
func pingAndShow(ctx context.Context, l *lab.Lab, what string) (*lab.Matrix, error) {
	m := lab.PingMatrix(ctx, lab.PodEndpoints(l.Pods()))
	fmt.Printf("\nping matrix (%s, rows ping columns):\n%s", what, m)
	routes, err := l.Host(1).Ctl(ctx, "routes")
	if err != nil {
		return nil, err
	}
	fmt.Printf("\nh1: vxbgpctl routes\n%s", routes)
	members, err := l.Host(1).Ctl(ctx, "members")
	if err != nil {
		return nil, err
	}
	fmt.Printf("\nh1: vxbgpctl members (every host's config: discovery.join [%s], no bgp.peers)\n%s", l.Host(1).Addr, members)
	return m, nil
}

// allOK prints the failed pairs of m, if any, and reports whether none
// failed.
func allOK(m *lab.Matrix) bool {
	if failed := m.Failed(); len(failed) > 0 {
		fmt.Printf("FAILED pairs: %v\n", failed)
		return false
	}
	return true
}

// runRouted is runDemo's routed-mode part: no FDB to time, so it creates
// the pods, waits until every host routes every other host's block, pings
// every pair and prints h1's routes as the agent and the kernel see them.
func runRouted(ctx context.Context, l *lab.Lab, f demoFlags, fail func(error) bool) bool {
	for _, h := range l.Hosts {
		for j := 1; j <= f.pods; j++ {
			if _, err := l.Pod(ctx, h, fmt.Sprintf("%sp%d", h.Name, j)); err != nil {
				return fail(err)
			}
		}
	}
	conv, err := l.WaitRouted(ctx)
	if err != nil {
		return fail(err)
	}
	m, err := pingAndShow(ctx, l, fmt.Sprintf("routed, %d hosts x %d pods", f.hosts, f.pods))
	if err != nil {
		return fail(err)
	}
	kernel, err := lab.IP(ctx, l.Host(1).NS, "route", "show", "proto", fmt.Sprint(lab.RouteProto))
	if err != nil {
		return fail(err)
	}
	fmt.Printf("\nh1: ip route show proto %d\n%s", lab.RouteProto, kernel)
	fmt.Printf("block routes converged %v after the sessions\n", conv.Round(time.Millisecond))
	return allOK(m)
}
