package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cores of their own for the type-2 race. Two hosts taking in one table at
// the same moment on one machine share its cores, and who gets them is
// then the kernel scheduler's choice, not the daemons' speed: a perf sched
// recording of the race (bench/README.md, "Cores of their own") showed
// h2's four runnable vxbgpd threads getting no CPU at all for 0.6 s while
// f2's bgpd and zebra's API thread woke each other ~14,000 times on one
// core and zebra ran on the other, the two hosts' CPU groups of equal
// weight notwithstanding. On machines of their own nothing decides that.
// So the row gives each receiver half of the bench's CPUs, the halves
// swapped every sample, and the bench's speaker and watches run anywhere.

// coreSplit is the bench's CPUs cut into two disjoint halves of equal size.
type coreSplit struct {
	halves [2]unix.CPUSet
	all    unix.CPUSet // every CPU the bench may run on, to unpin with
}

// splitCores cuts the CPUs the bench may run on into two halves (the odd
// one out, if any, in neither); an error if there are fewer than 2.
func splitCores() (coreSplit, error) {
	var s coreSplit
	if err := unix.SchedGetaffinity(0, &s.all); err != nil {
		return s, fmt.Errorf("our CPU affinity: %w", err)
	}
	cpus := cpusOf(&s.all)
	if len(cpus) < 2 {
		return s, fmt.Errorf("%d CPU: none to give each receiver its own", len(cpus))
	}
	half := len(cpus) / 2
	for i, c := range cpus[:2*half] {
		s.halves[i/half].Set(c)
	}
	return s, nil
}

// cpusOf lists the CPUs in set, ascending.
func cpusOf(set *unix.CPUSet) []int {
	var out []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// cpuList writes set as the kernel does (Cpus_allowed_list): "0", "2-3".
func cpuList(set *unix.CPUSet) string {
	var parts []string
	cpus := cpusOf(set)
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// pinProcs sets the CPU affinity of every thread of each of pids to set. A
// thread a process starts meanwhile inherits its starter's affinity, which
// may not be set yet: the threads are listed again until a pass finds each
// already on set.
func pinProcs(pids []int, set *unix.CPUSet) error {
	for _, pid := range pids {
		for pass := 0; ; pass++ {
			changed, err := pinThreads(pid, set)
			if err != nil {
				return err
			}
			if !changed {
				break
			}
			if pass == 10 {
				return fmt.Errorf("pin %d to CPUs %s: its threads keep changing", pid, cpuList(set))
			}
		}
	}
	return nil
}

// pinThreads sets the affinity of each of pid's threads not on set yet and
// reports whether it changed any.
func pinThreads(pid int, set *unix.CPUSet) (bool, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, fmt.Errorf("threads of %d: %w", pid, err)
	}
	changed := false
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var cur unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &cur); err != nil {
			if errors.Is(err, unix.ESRCH) { // the thread ended
				continue
			}
			return false, fmt.Errorf("affinity of thread %d of %d: %w", tid, pid, err)
		}
		if cur == *set {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			return false, fmt.Errorf("pin thread %d of %d to CPUs %s: %w", tid, pid, cpuList(set), err)
		}
		changed = true
	}
	return changed, nil
}
