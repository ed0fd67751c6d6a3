package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// Config selects what a run measures and how long.
type Config struct {
	Quick bool
	// Bulk are the sizes of the bulk convergence rows, one row each, run
	// in turn in the same lab; nil: DefaultBulk.
	Bulk    []int
	Only    []string // parts to run (see Parts); nil: all
	Self    string   // this program, run again in a namespace as the BGP speaker
	BinDir  string   // vxbgpd, vxbgpctl, vxbgp-cni
	RefCNI  string   // directory with the reference bridge and host-local plugins
	RepoDir string   // root of the vxbgp module, for the Go micro-benchmarks; "": they fail
	Logf    func(format string, args ...any)

	// The fleet part's hosts, pods per host and pods churned per round;
	// 0: 50, 20 and 100.
	Fleet, FleetPods, FleetChurn int

	// LabRoot is the parent of the labs' work directories; "": Run picks
	// it (labfs.go).
	LabRoot string

	// cpuGroups: the labs run each host in a CPU cgroup of its own (Run
	// sets it where the machine allows; lab.Options.CPUGroups).
	cpuGroups bool
}

// DefaultBulk are the bulk sizes of both the quick and the full run.
var DefaultBulk = []int{1000, 10000}

// Sizes per mode.
type sizes struct {
	convN, cniN int
	iperf       time.Duration
	iperfRounds int // alternating ours/ref runs; the median of each is reported
	bulk        []int
	type2       int
	blocks      int
	idle        time.Duration
	goCount     int    // go test -count
	goTime      string // go test -benchtime
	repeerN     int    // restarts per signal, ours and FRR's each
	// Samples of the rows that need a withdrawal and a settle barrier
	// between two samples.
	bulkN, type2N, blocksN int
	// k8s: pods a batch, batches (and CRI rounds) a side, sandboxes a
	// CRI round.
	k8sPods, k8sBatches, k8sCRI int
}

func (c Config) sizes() sizes {
	s := sizes{convN: 50, cniN: 100, iperf: 10 * time.Second, iperfRounds: 3, bulk: DefaultBulk, type2: 100000, blocks: 1000,
		idle: 30 * time.Second, goCount: 5, goTime: "1s", repeerN: 10, bulkN: 3, type2N: 5, blocksN: 5,
		k8sPods: 30, k8sBatches: 3, k8sCRI: 10}
	if c.Quick {
		s = sizes{convN: 10, cniN: 20, iperf: 3 * time.Second, iperfRounds: 1, bulk: DefaultBulk, type2: 10000, blocks: 1000,
			idle: 6 * time.Second, goCount: 1, goTime: "100ms", repeerN: 3, bulkN: 1, type2N: 3, blocksN: 3,
			k8sPods: 4, k8sBatches: 1, k8sCRI: 3}
	}
	if len(c.Bulk) > 0 {
		s.bulk = c.Bulk
	}
	return s
}

// Row names, in table order; the test checks each is printed.
const (
	WhatConv    = "convergence, 1 endpoint (CNI ADD on h1 -> FDB+neigh on h2)"
	WhatCNIAdd  = "CNI ADD"
	WhatCNIDel  = "CNI DEL"
	WhatOverlay = "iperf3 TCP 1 stream, overlay pod -> pod"
	WhatRouted  = "iperf3 TCP 1 stream, routed pod -> pod"
	WhatBlocks  = "routed: blocks announced by a BGP peer until kernel routes"
	WhatRSS     = "agent idle memory, PSS (100 local endpoints, 2 BGP peers)"
	WhatType2   = "type-2 routes from a peer until all in the kernel"
	// The type-2 row's second figure: the receiver's peak memory.
	WhatType2Peak = "agent peak RSS taking in type-2 routes from a peer"
	WhatCPU       = "agent idle CPU (100 local endpoints, 2 BGP peers)"
	// repeer.go: the daemon's start until all its sessions are back.
	WhatRepeerTerm = "re-peer after a restart (SIGTERM): start -> all sessions Established"
	WhatRepeerKill = "re-peer after a restart (SIGKILL): start -> all sessions Established"
	refFRRBgpd     = "FRR 8.4 bgpd restarted"
	// Go micro-benchmarks (gobench.go).
	WhatGoDiff       = "Go: overlay.Diff, 100k FDB entries, 1% changed"
	WhatGoDecode     = "Go: decode one received type-2 path"
	WhatGoFromPaths  = "Go: 10k received paths -> overlay.State"
	WhatGoBuildState = "Go: State snapshot from a 10k-route store"
	refFRRDaemons    = "FRR zebra+bgpd"
	refFRRRouter     = "FRR 8.4 router"
	NoteOffloads     = "vxlan100 offloads"
	refFRR           = "FRR 8.4"
	refCNIName       = "bridge+host-local v1.10.0"
	refHandVXLAN     = "hand-built bridge+VXLAN"
	refRawUnderly    = "raw underlay h1->h2"
)

// WhatBulk is the name of the bulk convergence row for n endpoints; no
// name is a substring of another's.
func WhatBulk(n int) string {
	return fmt.Sprintf("convergence, bulk n=%d (endpoints on h1 until all programmed on h2)", n)
}

// Expected lists every row (and note) a quick run of all parts prints; a
// full run adds ExpectedK8s.
var Expected = []string{WhatConv, WhatCNIAdd, WhatCNIDel, WhatBulk(1000), WhatBulk(10000), WhatType2, WhatType2Peak, WhatOverlay,
	WhatRSS, WhatCPU, WhatRouted, WhatBlocks, WhatRepeerTerm, WhatRepeerKill, WhatGoDiff, WhatGoDecode, WhatGoFromPaths, WhatGoBuildState, NoteOffloads}

// ExpectedK8s are the k8s part's rows (a full run, or -only k8s).
var ExpectedK8s = []string{WhatK8sPod, WhatK8sBatch, WhatK8sCRI}

// MaxBulk is the largest bulk size: our endpoints' IPs are
// 10.244.128.1-10.244.199.250 and the reference's 10.244.56.1-
// 10.244.127.250, 250 per /24.
const MaxBulk = 72 * 250

// ParseBulk parses -bulk, a comma list of sizes (at most 8, each 1..MaxBulk).
func ParseBulk(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > MaxBulk {
			return nil, fmt.Errorf("bulk size %q: want 1..%d", f, MaxBulk)
		}
		out = append(out, n)
	}
	if len(out) == 0 || len(out) > 8 {
		return nil, fmt.Errorf("bulk sizes %q: want 1 to 8 sizes", s)
	}
	return out, nil
}

// Run measures everything; a failing part becomes a row with its error so
// the rest still runs.
func Run(ctx context.Context, c Config) *Report {
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	host, _ := os.Hostname()
	rep := &Report{Start: time.Now(), Quick: c.Quick, Host: host}
	sz := c.sizes()
	if c.LabRoot == "" && c.hasAny(PartConv, PartCNI, PartBulk, PartType2, PartOverlay, PartFootprint, PartRouted, PartBlocks, PartRepeer, PartFleet) {
		fctx, cancel := context.WithTimeout(ctx, labFSTimeout)
		root, note, closeFS, err := prepareLabFS(fctx, c.Logf)
		cancel()
		switch {
		case err != nil:
			rep.Notes = append(rep.Notes, fmt.Sprintf("labs: WARNING: %v; the labs ran there as it is, and the rows that write files (bulk above all) measure that file system's cost too", err))
		case root != "":
			c.LabRoot = root
			rep.Notes = append(rep.Notes, note)
			defer closeFS()
		}
	}
	if c.hasAny(PartConv, PartCNI, PartBulk, PartType2, PartOverlay, PartFootprint, PartRouted, PartBlocks) {
		if err := lab.CPUGroupsAvailable(); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("labs: WARNING: %v; the hosts shared the CPUs by session (autogroup), which gives each FRR daemon a share of its own and every vxbgpd one shared with the bench (see bench/README.md \"CPU groups\")", err))
		} else {
			c.cpuGroups = true
			rep.Notes = append(rep.Notes, "labs: in the overlay and routed labs each host's daemons (vxbgpd; zebra and bgpd) ran in a CPU cgroup of their own, of equal weight; the bench, its BGP speaker and watchers in the bench's session (see bench/README.md \"CPU groups\")")
		}
	}
	if c.hasAny(PartConv, PartCNI, PartBulk, PartType2, PartOverlay, PartFootprint) {
		rows, notes := overlaySuite(ctx, c, sz)
		rep.Rows = append(rep.Rows, rows...)
		rep.Notes = append(rep.Notes, notes...)
	}
	if c.hasAny(PartRouted, PartBlocks) {
		rows, notes := routedSuite(ctx, c, sz)
		rep.Rows = append(rep.Rows, rows...)
		rep.Notes = append(rep.Notes, notes...)
	}
	if c.has(PartRepeer) {
		rep.Rows = append(rep.Rows, repeerSuite(ctx, c, sz)...)
	}
	if c.has(PartK8s) {
		rows, notes := k8sSuite(ctx, c, sz)
		rep.Rows = append(rep.Rows, rows...)
		rep.Notes = append(rep.Notes, notes...)
	}
	if c.has(PartFleet) {
		rows, notes := fleetSuite(ctx, c)
		rep.Rows = append(rep.Rows, rows...)
		rep.Notes = append(rep.Notes, notes...)
	}
	// Last: compiling and running Go benchmarks would disturb the labs.
	if c.has(PartGoBench) {
		rep.Rows = append(rep.Rows, goBenchRows(ctx, c, sz)...)
	}
	rep.Duration = time.Since(rep.Start).Round(time.Second).String()
	return rep
}

func errRow(what, ref string, err error) Row {
	return Row{What: what, RefName: ref, Err: err.Error()}
}

func newLab(ctx context.Context, c Config, o lab.Options) (*lab.Lab, func(), error) {
	o.BinDir, o.Logf = c.BinDir, c.Logf
	if o.Root == "" {
		o.Root = c.LabRoot
	}
	l, err := lab.New(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return l, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := l.Close(cctx); err != nil {
			c.Logf("close lab %s: %v", l.ID, err)
		}
	}, nil
}
