package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Module is the module path FindRepo looks for.
const Module = "github.com/vxbgp/vxbgp"

// goBench is one Go micro-benchmark row: Name's "vxbgp" sub-benchmark next
// to its Ref sub-benchmark, both in the same `go test` run.
type goBench struct {
	what    string
	name    string // BenchmarkX
	ref     string // the reference sub-benchmark
	refName string
	note    string
}

var goBenches = []goBench{
	{WhatGoDiff, "BenchmarkDiff100k", "clone", "maps.Clone of the state",
		"overlay: Diff of 100k remote MACs against a desired state with 1% changed (1,000 ops); ref (floor): maps.Clone of every map of the desired state, each of its 100k entries copied once, which Diff must at least touch (it also walks the current state)"},
	{WhatGoDecode, "BenchmarkDecodeType2", "gobgp", "GoBGP apiutil parse",
		"control/evpn: one received MAC+IP type-2 path to a Route, as the speaker's watch hands it over (GoBGP's parsed NLRI and attributes: evpn.DecodeRx); ref: GoBGP's own apiutil.GetNativeNlri + GetNativePathAttributes of the same path in API form (*api.Path), what reading it through GoBGP's API costs before any value is looked at"},
	{WhatGoFromPaths, "BenchmarkStateFromPaths10k", "gobgp", "GoBGP apiutil parse of the 10k",
		"control/evpn: 10k received paths (9,990 MAC+IP type-2, 10 type-3), as the watch hands them over, decoded, stored and built into a full overlay.State, as a restarting agent does; ref: GoBGP's apiutil parse (NLRI + attributes) of the same 10k paths in API form alone, nothing stored or built"},
	{WhatGoBuildState, "BenchmarkBuildState10k", "clone", "maps.Clone of the snapshot",
		"control/evpn: one overlay.State from a store of those 10k routes, paid per publish; ref (floor): maps.Clone of every map of the finished snapshot"},
}

// goPackages hold the benchmarks, relative to the module root.
var goPackages = []string{"./overlay", "./control/evpn"}

// FindRepo returns the first directory from each of dirs upwards whose
// go.mod declares Module, or "".
func FindRepo(dirs ...string) string {
	for _, d := range dirs {
		for d != "" {
			b, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == Module {
						return d
					}
				}
			}
			p := filepath.Dir(d)
			if p == d {
				break
			}
			d = p
		}
	}
	return ""
}

// goBenchRows runs the benchmarks with `go test` in c.RepoDir and makes
// one row each: median and maximum of the -count runs, ours and the
// reference's.
func goBenchRows(ctx context.Context, c Config, sz sizes) []Row {
	fail := func(err error) []Row {
		var rows []Row
		for _, g := range goBenches {
			rows = append(rows, errRow(g.what, g.refName, err))
		}
		return rows
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fail(fmt.Errorf("the go command is missing (needed for the Go micro-benchmarks): %w", err))
	}
	if c.RepoDir == "" {
		return fail(errors.New("no go.mod of " + Module + " found (run from the repository or pass -repo)"))
	}
	if _, err := os.Stat(filepath.Join(c.RepoDir, "go.mod")); err != nil {
		return fail(fmt.Errorf("go.mod missing in %s: %w", c.RepoDir, err))
	}
	var names []string
	for _, g := range goBenches {
		names = append(names, strings.TrimPrefix(g.name, "Benchmark"))
	}
	args := append([]string{"test", "-run", "^$", "-bench", "^Benchmark(" + strings.Join(names, "|") + ")$",
		"-benchmem", "-count", strconv.Itoa(sz.goCount), "-benchtime", sz.goTime}, goPackages...)
	tctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(tctx, goBin, args...)
	cmd.Dir = c.RepoDir
	cmd.WaitDelay = 5 * time.Second
	c.Logf("gobench: %s %s (in %s)", goBin, strings.Join(args, " "), c.RepoDir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	c.Logf("gobench: took %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		return fail(fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 6)))
	}
	res := parseGoBench(string(out))
	var rows []Row
	for _, g := range goBenches {
		rows = append(rows, g.row(res, sz))
	}
	return rows
}

// benchResult collects one (sub-)benchmark's runs.
type benchResult struct {
	ns, bytes, allocs []float64
}

var gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)

// parseGoBench reads `go test -bench -benchmem` output: name -> runs.
func parseGoBench(out string) map[string]*benchResult {
	res := map[string]*benchResult{}
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := gomaxprocsSuffix.ReplaceAllString(f[0], "")
		r := res[name]
		if r == nil {
			r = &benchResult{}
			res[name] = r
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.ns = append(r.ns, v)
			case "B/op":
				r.bytes = append(r.bytes, v)
			case "allocs/op":
				r.allocs = append(r.allocs, v)
			}
		}
	}
	return res
}

func (g goBench) row(res map[string]*benchResult, sz sizes) Row {
	row := Row{What: g.what, RefName: g.refName}
	o, r := res[g.name+"/vxbgp"], res[g.name+"/"+g.ref]
	switch {
	case o == nil || len(o.ns) == 0:
		row.Err = "no result for " + g.name + "/vxbgp in the go test output"
		return row
	case r == nil || len(r.ns) == 0:
		row.Err = "no result for " + g.name + "/" + g.ref + " in the go test output"
		return row
	}
	row.N = len(o.ns)
	om, ox := medianMax(o.ns)
	rm, rx := medianMax(r.ns)
	// One unit for both, picked so that our median reads >= 1.
	unit, div := "ns", 1.0
	switch {
	case om >= 1e6:
		unit, div = "ms", 1e6
	case om >= 1e3:
		unit, div = "µs", 1e3
	}
	row.Unit = unit
	row.Ours, row.OursP99, row.Ref, row.RefP99 = om/div, ox/div, rm/div, rx/div
	if rm > 0 {
		row.Ratio = om / rm
	}
	runs := fmt.Sprintf("median / max of %d runs (the max in the p99 column)", len(o.ns))
	if len(o.ns) == 1 {
		runs = "one run, shown as median and max"
	}
	row.Note = fmt.Sprintf("go test -bench -count %d -benchtime %s, %s; per op ours %s in %s allocs, ref %s in %s allocs; %s",
		sz.goCount, sz.goTime, runs, fmtBytes(median(o.bytes)), fmtCount(median(o.allocs)), fmtBytes(median(r.bytes)), fmtCount(median(r.allocs)), g.note)
	return row
}

func median(v []float64) float64 {
	m, _ := medianMax(v)
	return m
}

// medianMax is the median (the lower middle one for an even count, as
// medianP99) and the maximum.
func medianMax(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2], s[len(s)-1]
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func fmtCount(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
