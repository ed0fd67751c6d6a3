package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The machine limits a fleet can hit, checked before anything is built so
// that a run too big for the machine fails at once and names the limit.
// Checked and found not to bind: inotify (the agent opens no inotify
// instance), veths and bridges (no count limit), memberlist (one UDP and
// one TCP port per host namespace), the underlay bridge's 1,024 ports.

// fleetNeeds is what a fleet of a size takes from the machine.
type fleetNeeds struct {
	netns   int // namespaces: underlay, hosts, pods (churned ones included)
	fds     int // this process: a probe socket per pod, a watch per host, slack
	memMB   int // agents and pods, an estimate with headroom
	threads int // agents' threads (a Go agent runs ~15)
	arp     int // dynamic ARP entries, all namespaces together
}

// estimate sizes a fleet's needs. Pods' ARP entries: each sampled pair
// makes one in the sender (for the target) and one in the target (for the
// sender); the kernel counts IPv4 neighbours of every namespace against one
// table (net.ipv4.neigh.default.gc_thresh3, 1,024 by default), which the
// 50-host sample's ~100,000 entries would overflow ("neighbour table
// overflow": requests dropped, pings lost).
func (fz fleetSize) estimate() fleetNeeds {
	pods := fz.hosts * fz.pods
	pairs := pods*(fz.hosts-1+fz.k) + fz.churn*(fz.hosts-1)
	return fleetNeeds{
		netns:   1 + fz.hosts + pods + fz.churn,
		fds:     pods + fz.churn + 4*fz.hosts + 256,
		memMB:   fz.hosts*100 + pods,
		threads: fz.hosts * 40,
		arp:     2*pairs + 4*pods,
	}
}

// preflight checks the machine against a fleet's needs and returns one
// error naming each limit that blocks it.
func preflight(fz fleetSize) error {
	n := fz.estimate()
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("needs root (network namespaces)"))
	}
	switch {
	case fz.hosts < fz.reflectors+1 || fz.reflectors < 1:
		errs = append(errs, fmt.Errorf("%d hosts with %d reflectors: want at least one reflector and one client", fz.hosts, fz.reflectors))
	case fz.hosts > 100:
		// internal/lab's underlay: hosts at 10.250.0.1-100.
		errs = append(errs, fmt.Errorf("%d hosts: the lab's underlay addresses hosts 1..100", fz.hosts))
	}
	if per := fz.pods + (fz.churn*fz.rounds+fz.hosts-1)/fz.hosts; per > 250 {
		errs = append(errs, fmt.Errorf("%d pods a host (with churn): a host's block is a /24", per))
	}
	if fz.pods < 2 {
		errs = append(errs, fmt.Errorf("%d pods a host: want at least 2 (the first stays, churn takes others)", fz.pods))
	}
	if v, err := readInt("/proc/sys/user/max_net_namespaces"); err == nil {
		have, _ := os.ReadDir("/run/netns")
		if len(have)+n.netns > v {
			errs = append(errs, fmt.Errorf("user.max_net_namespaces %d < %d existing + %d needed", v, len(have), n.netns))
		}
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(n.fds) {
		errs = append(errs, fmt.Errorf("open files (ulimit -n) %d < %d needed (a probe socket per pod)", rl.Cur, n.fds))
	}
	if avail, err := memAvailableMB(); err == nil && avail < n.memMB {
		errs = append(errs, fmt.Errorf("MemAvailable %d MB < %d MB needed (~100 MB an agent, 1 MB a pod)", avail, n.memMB))
	}
	if v, err := readInt("/proc/sys/kernel/threads-max"); err == nil && v < n.threads*4 {
		errs = append(errs, fmt.Errorf("kernel.threads-max %d < %d (the agents' threads, with room for the rest)", v, n.threads*4))
	}
	if v, err := readInt("/proc/sys/kernel/pid_max"); err == nil && v < n.threads*4 {
		errs = append(errs, fmt.Errorf("kernel.pid_max %d < %d", v, n.threads*4))
	}
	if len(errs) > 0 {
		return fmt.Errorf("fleet of %d hosts x %d pods: preflight: %w", fz.hosts, fz.pods, errors.Join(errs...))
	}
	return nil
}

// arpPaths are the IPv4 neighbour table's garbage-collection thresholds,
// global to the machine (every namespace's entries count against them).
var arpPaths = []string{
	"/proc/sys/net/ipv4/neigh/default/gc_thresh1",
	"/proc/sys/net/ipv4/neigh/default/gc_thresh2",
	"/proc/sys/net/ipv4/neigh/default/gc_thresh3",
}

// raiseARP raises the thresholds to hold need entries (gc_thresh1 to need,
// 2 and 3 to twice that) where they are lower, and returns a function that
// puts back the values it changed, and what it did.
func raiseARP(need int) (restore func() error, did string, err error) {
	want := []int{need, 2 * need, 2 * need}
	var old []int
	for _, p := range arpPaths {
		v, err := readInt(p)
		if err != nil {
			return nil, "", err
		}
		old = append(old, v)
	}
	restore = func() error {
		var errs []error
		for i := range arpPaths { // lowest first, the reverse of raising
			if old[i] < want[i] {
				errs = append(errs, os.WriteFile(arpPaths[i], []byte(strconv.Itoa(old[i])), 0))
			}
		}
		return errors.Join(errs...)
	}
	var changed []string
	// Raise 3 first: the kernel keeps 1 <= 2 <= 3 only by convention, but
	// raising in that order never leaves them inverted.
	for i := len(arpPaths) - 1; i >= 0; i-- {
		if old[i] >= want[i] {
			continue
		}
		if err := os.WriteFile(arpPaths[i], []byte(strconv.Itoa(want[i])), 0); err != nil {
			return nil, "", errors.Join(fmt.Errorf("raise %s to %d: %w", arpPaths[i], want[i], err), restore())
		}
		changed = append(changed, fmt.Sprintf("%s %d->%d", strings.TrimPrefix(arpPaths[i], "/proc/sys/net/ipv4/neigh/default/"), old[i], want[i]))
	}
	if len(changed) == 0 {
		return restore, "", nil
	}
	return restore, "net.ipv4.neigh.default " + strings.Join(changed, ", ") + " for the run (restored after)", nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func memAvailableMB() (int, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, err := strconv.Atoi(f[0])
				return kb / 1024, err
			}
		}
	}
	return 0, errors.New("/proc/meminfo has no MemAvailable")
}
