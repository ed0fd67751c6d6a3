package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StaleOptions select what CleanupStale removes.
type StaleOptions struct {
	Root   string // lab root; default DefaultRoot()
	Prefix string // namespace prefix of lab runs; default idPrefix
	// All removes live runs too (`vxbgp-lab clean`); otherwise a run whose
	// harness process still runs is left alone, so a test's cleanup of
	// crashed runs cannot break a concurrent run.
	All  bool
	Logf func(format string, args ...any)
}

// CleanupStale removes what crashed (or KEEP=1) runs left: for each run
// directory under the root whose owner is gone, it stops the daemons it
// recorded (checking /proc/PID/cmdline for the run dir), deletes the run's
// namespaces and removes the directory. Namespaces that look like a lab
// run's but have no run directory left are deleted too, after stopping
// processes inside them that were started from the lab root.
func CleanupStale(ctx context.Context, o StaleOptions) (removed []string, err error) {
	if o.Root == "" {
		o.Root = DefaultRoot()
	}
	if o.Prefix == "" {
		o.Prefix = idPrefix
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	var errs []error
	ents, rerr := os.ReadDir(o.Root)
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return nil, fmt.Errorf("list %s: %w", o.Root, rerr)
	}
	live := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() || !idPattern.MatchString(e.Name()) || !strings.HasPrefix(e.Name(), o.Prefix) {
			continue
		}
		r := &runDir{id: e.Name(), dir: filepath.Join(o.Root, e.Name())}
		if !o.All && r.ownerAlive() {
			live[r.id] = true
			continue
		}
		if err := removeRun(ctx, r, o.Logf); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, r.id)
	}
	all, lerr := listNetns()
	if lerr != nil {
		errs = append(errs, lerr)
	}
	for _, n := range all {
		m := nsPattern.FindStringSubmatch(n)
		if m == nil || !strings.HasPrefix(n, o.Prefix) || live[m[1]] {
			continue
		}
		if _, err := os.Stat(filepath.Join(o.Root, m[1])); err == nil && !o.All {
			continue // its run is live (checked above) or was just handled
		}
		if err := delNetns(ctx, n, o.Root); err != nil {
			errs = append(errs, err)
		}
		o.Logf("deleted orphan namespace %s", n)
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}

// orphanPIDs returns the PIDs of processes whose cmdline mentions a path
// under root.
func orphanPIDs(root string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cmdlineContains(pid, root+"/") {
			out = append(out, pid)
		}
	}
	return out
}

// KillOrphans stops processes whose cmdline names a directory under root
// (e.g. a vxbgpd whose run directory was already removed). Only
// `vxbgp-lab clean` calls it.
func KillOrphans(ctx context.Context, root string) ([]int, error) {
	if root == "" {
		root = DefaultRoot()
	}
	pids := orphanPIDs(root)
	var errs []error
	for _, pid := range pids {
		if err := terminate(ctx, pid, root+"/", 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return pids, errors.Join(errs...)
}
