package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Process figures from /proc. A PID that is 0 or gone is an error, never
// a 0 that would read as "no cost".

func procFile(pid int, name string) ([]byte, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("no process (pid %d) to read %s of", pid, name)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		return nil, fmt.Errorf("read /proc/%d/%s: %w", pid, name, err)
	}
	return b, nil
}

// cpuTimes is the time each thread of some processes spent on a CPU, in
// nanoseconds, by thread ID: the first field of
// /proc/PID/task/TID/schedstat, which the scheduler keeps exactly
// (utime+stime of /proc/PID/stat count 10 ms ticks: an idle daemon's few
// ticks in a window were noise). Per thread, because /proc/PID/schedstat
// is only the main thread's, and a Go program or bgpd works in others.
type cpuTimes map[int]int64

func cpuNow(pids []int) (cpuTimes, error) {
	out := cpuTimes{}
	for _, pid := range pids {
		if pid <= 0 {
			return nil, fmt.Errorf("no process (pid %d) to read the CPU time of", pid)
		}
		dir := fmt.Sprintf("/proc/%d/task", pid)
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dir, err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("%s/%d/schedstat", dir, tid))
			if err != nil {
				continue // the thread exited since the listing
			}
			f := strings.Fields(string(b))
			if len(f) < 1 {
				return nil, fmt.Errorf("%s/%d/schedstat: empty", dir, tid)
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s/%d/schedstat: %w", dir, tid, err)
			}
			out[tid] = ns
		}
	}
	return out, nil
}

// since is the CPU time spent between then and c: each thread's growth,
// a new thread's whole time. A thread that exited in between loses its
// last stretch (Go and FRR keep their threads).
func (c cpuTimes) since(then cpuTimes) int64 {
	var sum int64
	for tid, ns := range c {
		sum += ns - then[tid]
	}
	return sum
}

// kbField sums the "Key: N kB" line of /proc/PID/<file> over pids, in MB.
func kbField(pids []int, file, key string) (float64, error) {
	var kb int64
	for _, pid := range pids {
		b, err := procFile(pid, file)
		if err != nil {
			return 0, err
		}
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				f := strings.Fields(v)
				if len(f) == 0 {
					break
				}
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("/proc/%d/%s %s: %w", pid, file, key, err)
				}
				kb += n
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("/proc/%d/%s has no %s", pid, file, key)
		}
	}
	return float64(kb) / 1024, nil
}

// pssMB sums the proportional set size of pids: shared pages (FRR's
// zebra and bgpd map the same libraries) are split between the processes
// that map them instead of counted once per process as RSS does.
func pssMB(pids []int) (float64, error) { return kbField(pids, "smaps_rollup", "Pss") }

// rssMB sums VmRSS of pids.
func rssMB(pids []int) (float64, error) { return kbField(pids, "status", "VmRSS") }

// peakMB sums VmHWM, the peak resident set size since the process started
// or since resetPeak.
func peakMB(pids []int) (float64, error) { return kbField(pids, "status", "VmHWM") }

// resetPeak sets each process's VmHWM to its current RSS (clear_refs 5,
// Linux 4.0+), so a sample's peak is its own.
func resetPeak(pids []int) error {
	for _, pid := range pids {
		if pid <= 0 {
			return fmt.Errorf("no process (pid %d) to reset the peak RSS of", pid)
		}
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			return fmt.Errorf("reset peak RSS of %d: %w", pid, err)
		}
	}
	return nil
}

// quietBelow is the CPU (all the daemons together, share of one core) under
// which a settle window counts as quiet.
const quietBelow = 0.05

// settle is the barrier between two measured actions: it returns once the
// daemons pids used less than quietBelow of a core in two 500 ms windows
// in a row, i.e. they finished what the previous action caused (an agent's
// periodic resync is short enough to fall between). It fails after limit.
func settle(ctx context.Context, pids []int, limit time.Duration) (time.Duration, error) {
	return settleBelow(ctx, pids, limit, quietBelow)
}

// settleBelow is settle with its own threshold (a share of one core).
func settleBelow(ctx context.Context, pids []int, limit time.Duration, quietBelow float64) (time.Duration, error) {
	var prev cpuTimes
	var t0 time.Time
	// The share of one core the daemons used since the last call.
	load := func() (float64, error) {
		now, err := cpuNow(pids)
		if err != nil {
			return 0, err
		}
		t1 := time.Now()
		share := 0.0
		if !t0.IsZero() {
			share = float64(now.since(prev)) / float64(t1.Sub(t0).Nanoseconds())
		}
		prev, t0 = now, t1
		return share, nil
	}
	return settleOn(ctx, limit, quietBelow, load, "daemons not quiet after %v (last window %.0f %% of a core)")
}

// settleOn is the settle barrier over a load: load returns the share used
// since its previous call (its first call only starts counting). It
// returns once two 500 ms windows in a row were under below, and fails
// after limit with notQuiet (formatted with limit and the last window's
// share in percent).
func settleOn(ctx context.Context, limit time.Duration, below float64, load func() (float64, error), notQuiet string) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	const window = 500 * time.Millisecond
	if _, err := load(); err != nil {
		return 0, err
	}
	last := 0.0
	for quiet := 0; quiet < 2; {
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf(notQuiet, limit, 100*last)
		case <-time.After(window):
		}
		var err error
		if last, err = load(); err != nil {
			return 0, err
		}
		if last < below {
			quiet++
		} else {
			quiet = 0
		}
	}
	return time.Since(start), nil
}

// frrPIDs are an FRR instance's zebra and bgpd (pids: its PIDs()), both
// required: a reference with a daemon missing would read as cheaper.
func frrPIDs(name string, pids map[string]int) ([]int, error) {
	var out []int
	for _, d := range []string{"zebra", "bgpd"} {
		p, ok := pids[d]
		if !ok || p <= 0 {
			return nil, fmt.Errorf("%s: no running %s to measure", name, d)
		}
		out = append(out, p)
	}
	return out, nil
}

// minorFaults sums the minor page faults of pids so far (/proc/PID/stat
// field 10, all threads): a Go heap that the runtime gave back to the
// kernel is faulted in again, a page at a time, zeroed.
func minorFaults(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		b, err := procFile(pid, "stat")
		if err != nil {
			return 0, err
		}
		// the fields after the command, which is in parentheses and may
		// hold spaces
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 8 {
			return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
		}
		n, err := strconv.ParseInt(f[7], 10, 64) // field 10: minflt (state is 3)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat minflt: %w", pid, err)
		}
		sum += n
	}
	return sum, nil
}
