package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPU groups (Options.CPUGroups): each lab host — h1, f2, r1 — runs its
// daemons in a CPU cgroup of its own, directly under the root, with the
// default weight, as each would on a machine of its own or in a container
// of its own. Without them the kernel's autogroup shares the CPUs out by
// session: FRR's zebra and bgpd daemonize, each into a session and so a
// scheduling group of its own, while every vxbgpd the lab starts stays in
// the harness's session, with the other hosts' agents and whatever the
// harness runs itself (a bench's BGP speaker and watchers). Two hosts
// taking in the same routes at the same moment then raced with FRR holding
// two shares of the machine to the agent's fraction of one.
//
// A group is named vxbgp-lab-<run ID>-<host> and removed with the run
// (removeRun); a daemon joins its host's group when its PID is recorded.

// cgroupV1CPU and cgroupV2 are where the cpu controller is mounted.
const (
	cgroupV1CPU = "/sys/fs/cgroup/cpu"
	cgroupV2    = "/sys/fs/cgroup"
)

// cpuGroupRoot returns the cgroup directory CPU groups are made in, or an
// error saying why there is none.
func cpuGroupRoot() (string, error) {
	if _, err := os.Stat(filepath.Join(cgroupV1CPU, "cgroup.procs")); err == nil {
		return cgroupV1CPU, nil
	}
	b, err := os.ReadFile(filepath.Join(cgroupV2, "cgroup.controllers"))
	if err != nil {
		return "", fmt.Errorf("no cgroup cpu controller (%s, %s): %w", cgroupV1CPU, cgroupV2, err)
	}
	if !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " cpu ") {
		return "", fmt.Errorf("cgroup v2 at %s has no cpu controller", cgroupV2)
	}
	// Children of the root get the controller only if the root hands it
	// down; the root itself is exempt from the no-internal-process rule.
	if err := os.WriteFile(filepath.Join(cgroupV2, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
		return "", fmt.Errorf("enable the cpu controller for %s's children: %w", cgroupV2, err)
	}
	return cgroupV2, nil
}

// cpuGroupPrefix names the groups of run id.
func cpuGroupPrefix(id string) string { return "vxbgp-lab-" + id + "-" }

// joinCPUGroup moves pid (the whole process) into host's group of the run
// under root, making the group first if needed.
func joinCPUGroup(root, id, host string, pid int) error {
	dir := filepath.Join(root, cpuGroupPrefix(id)+host)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cpu group of %s: %w", host, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("move %d into the cpu group of %s: %w", pid, host, err)
	}
	return nil
}

// removeCPUGroups removes the run's groups under either mount point. A
// group's last tasks may still be exiting after they were killed: each
// removal is retried for a few seconds.
func removeCPUGroups(id string) error {
	var errs []error
	for _, root := range []string{cgroupV1CPU, cgroupV2} {
		ents, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), cpuGroupPrefix(id)) {
				continue
			}
			dir := filepath.Join(root, e.Name())
			var rerr error
			for range 50 {
				// a cgroup directory goes with rmdir, its files with it
				if rerr = os.Remove(dir); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
					rerr = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if rerr != nil {
				errs = append(errs, fmt.Errorf("remove cpu group %s: %w", dir, rerr))
			}
		}
	}
	return errors.Join(errs...)
}

// hostOfDaemon is the host part of a daemon's record name ("h1-vxbgpd":
// "h1").
func hostOfDaemon(name string) string {
	host, _, _ := strings.Cut(name, "-")
	return host
}

// CPUGroupsAvailable says why Options.CPUGroups would fail on this
// machine, or nil.
func CPUGroupsAvailable() error {
	_, err := cpuGroupRoot()
	return err
}
