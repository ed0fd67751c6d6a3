package bench

// Where the fleet's CPU went: the machine's, this process's and its
// children's, the agents' over their lives; and the small helpers the
// fleet's rows share.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// machineCPU is /proc/stat's "cpu" line and this process's and its reaped
// children's rusage, for where a window's CPU went.
type machineCPU struct {
	busy, idle   float64 // seconds, all cores
	self, reaped float64 // seconds
	cores        int
}

// clockTicks is USER_HZ, /proc/stat's unit (100 on Linux).
const clockTicks = 100

func takeMachineCPU() (machineCPU, error) {
	var m machineCPU
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 8 && f[0] == "cpu":
			// user nice system idle iowait irq softirq steal
			for i := 1; i <= 8; i++ {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					return m, fmt.Errorf("/proc/stat: %w", err)
				}
				if i == 4 || i == 5 {
					m.idle += v / clockTicks
				} else {
					m.busy += v / clockTicks
				}
			}
		case len(f) > 0 && strings.HasPrefix(f[0], "cpu") && f[0] != "cpu":
			m.cores++
		}
	}
	var self, children unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &self); err != nil {
		return m, err
	}
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &children); err != nil {
		return m, err
	}
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	m.self, m.reaped = tv(self.Utime)+tv(self.Stime), tv(children.Utime)+tv(children.Stime)
	return m, nil
}

// machineQuiet is the machine's busy share (of all cores) under which the
// fleet starts: the labs before it (the k8s cluster, ten thousand
// endpoints) leave the kernel tearing down namespaces and cgroups in its
// workqueues for a while, and the fleet's window is CPU-bound.
const machineQuiet = 0.10

// settleMachine returns once the whole machine was busy less than
// machineQuiet of its cores in two 500 ms windows in a row (settleOn); it
// fails after limit, saying how busy the last window was.
func settleMachine(ctx context.Context, limit time.Duration) (time.Duration, error) {
	var prev machineCPU
	load := func() (float64, error) {
		now, err := takeMachineCPU()
		if err != nil {
			return 0, err
		}
		d := now.since(prev)
		prev = now
		if d.busy+d.idle <= 0 {
			return 0, nil
		}
		return d.busy / (d.busy + d.idle), nil
	}
	return settleOn(ctx, limit, machineQuiet, load, "machine not quiet after %v (last window %.0f %% busy)")
}

func (m machineCPU) since(o machineCPU) machineCPU {
	return machineCPU{busy: m.busy - o.busy, idle: m.idle - o.idle, self: m.self - o.self, reaped: m.reaped - o.reaped, cores: m.cores}
}

// breakdown says where a window's busy CPU went: the agents (read from
// schedstat: their whole life, which began in the window), the commands
// the harness ran and reaped (ip, vxbgp-cni, vxbgpctl), the harness itself
// (probes, watches), and the rest (the kernel's softirq work for the
// packets, other processes).
func (m machineCPU) breakdown(reflectors, clients float64) string {
	rest := m.busy - reflectors - clients - m.reaped - m.self
	pct := func(v float64) string { return fmt.Sprintf("%.1f s (%.0f %%)", v, 100*v/m.busy) }
	return fmt.Sprintf("machine busy %.1f s of %.1f s; agents: reflectors %s, clients %s; ip/vxbgp-cni/vxbgpctl commands %s; the harness %s; the rest (kernel softirq, other processes) %s",
		m.busy, m.busy+m.idle, pct(reflectors), pct(clients), pct(m.reaped), pct(m.self), pct(rest))
}

// lifeCPU is each process's CPU time so far, in seconds (schedstat, every
// thread).
func lifeCPU(pids []int) ([]float64, error) {
	var out []float64
	for _, pid := range pids {
		now, err := cpuNow([]int{pid})
		if err != nil {
			return nil, err
		}
		out = append(out, float64(now.since(nil))/1e9)
	}
	return out, nil
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func slicesMax(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func slicesClone(v []float64) []float64 { return append([]float64(nil), v...) }

func rangeN(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fmtDur is a duration in seconds with one decimal.
func fmtDur(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
