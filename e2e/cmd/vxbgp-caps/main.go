// Command vxbgp-caps runs a program with the privileges a container
// runtime or a systemd unit would give it, for the tests that show vxbgpd
// works with exactly those: in a mount namespace of its own it makes the
// paths of -ro read-only (as runc does /proc/sys, or systemd's
// ProtectSystem= does /), the paths of -rw below them writable again and
// those of -hide empty (ProtectHome=), in the order given; optionally sets
// no_new_privs, lowers the capability bounding set to
// -caps and clears the inheritable and ambient sets, installs a seccomp
// filter standing for systemd's SystemCallFilter=, RestrictAddressFamilies=,
// RestrictNamespaces=, MemoryDenyWriteExecute= and
// SystemCallArchitectures=native (seccomp.go), then execs the program as
// root with the variables of -setenv added to its environment. Root exec'ing a file without file capabilities then
// gets permitted = effective = the bounding set, which is what runc does
// for a container (bounding = permitted = effective, no ambient).
//
//	vxbgp-caps -caps NET_ADMIN,NET_RAW -ro /proc/sys -nnp -- vxbgpd --config FILE
//
// It execs (the PID stays the program's) and runs on one locked thread:
// the mount namespace and the capability sets belong to the thread that
// execs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/caps"
)

// mountOp is one -ro, -rw or -hide.
type mountOp struct{ kind, path string }

// mountFlag appends its kind of mountOp to a shared list, so that the
// operations keep their command-line order.
type mountFlag struct {
	kind string
	ops  *[]mountOp
}

func (f mountFlag) String() string { return "" }
func (f mountFlag) Set(v string) error {
	*f.ops = append(*f.ops, mountOp{f.kind, v})
	return nil
}

func main() {
	runtime.LockOSThread()
	var ops []mountOp
	capList := flag.String("caps", "", "comma-separated capabilities to keep (bounding set), e.g. NET_ADMIN,CAP_NET_RAW; empty keeps none")
	nnp := flag.Bool("nnp", false, "set no_new_privs (allowPrivilegeEscalation: false, NoNewPrivileges=yes)")
	flag.Var(mountFlag{"ro", &ops}, "ro", "make this path read-only, recursively (repeatable)")
	flag.Var(mountFlag{"rw", &ops}, "rw", "make this path writable again, recursively (repeatable)")
	flag.Var(mountFlag{"hide", &ops}, "hide", "put an empty read-only tmpfs over this directory (repeatable)")
	allow := flag.String("syscalls", "", "seccomp: allow only these syscall numbers (comma-separated; SystemCallFilter=); others fail with -errno")
	errno := flag.Uint("errno", uint(unix.EPERM), "seccomp: the errno of a call outside -syscalls (SystemCallErrorNumber=); 0 kills the process")
	families := flag.String("families", "", "seccomp: socket(2) only of these address families (numbers; RestrictAddressFamilies=)")
	noNS := flag.Bool("no-namespaces", false, "seccomp: no unshare, setns or clone into new namespaces (RestrictNamespaces=yes)")
	noWX := flag.Bool("no-wx", false, "seccomp: no writable and executable memory (MemoryDenyWriteExecute=yes)")
	var env []string
	flag.Func("setenv", "add KEY=VALUE to the program's environment (repeatable)", func(v string) error { env = append(env, v); return nil })
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: vxbgp-caps [-caps LIST] [-nnp] [-ro|-rw|-hide PATH]... -- PROGRAM [ARGS]")
		os.Exit(2)
	}
	f := filter{errno: uint32(*errno), noNS: *noNS, noWX: *noWX}
	var err error
	if f.allow, err = parseNumbers(*allow); err == nil {
		f.families, err = parseNumbers(*families)
	}
	if err == nil {
		err = run(*capList, *nnp, ops, f, append(os.Environ(), env...), flag.Args())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vxbgp-caps: %v\n", err)
		os.Exit(1)
	}
}

func run(capList string, nnp bool, ops []mountOp, f filter, env, argv []string) error {
	var list []string
	if capList != "" {
		list = strings.Split(capList, ",")
	}
	keep, err := caps.Parse(list)
	if err != nil {
		return err
	}
	prog, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	if err := mounts(ops); err != nil {
		return err
	}
	if nnp {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if err := lower(keep); err != nil {
		return err
	}
	if err := f.install(); err != nil {
		return err
	}
	return unix.Exec(prog, argv, env)
}

// mounts applies ops in a new mount namespace that shares nothing with
// the host's. -ro and -rw bind the path onto itself, recursively, and set
// or clear MOUNT_ATTR_RDONLY on every mount below it.
func mounts(ops []mountOp) error {
	if len(ops) == 0 {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	for _, op := range ops {
		if op.kind == "hide" {
			if err := unix.Mount("tmpfs", op.path, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=000"); err != nil {
				return fmt.Errorf("hide %s: %w", op.path, err)
			}
			continue
		}
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if op.kind == "rw" {
			attr = &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
		}
		if err := unix.Mount(op.path, op.path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", op.path, err)
		}
		if err := unix.MountSetattr(unix.AT_FDCWD, op.path, unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("set mount attributes of %s: %w", op.path, err)
		}
	}
	return nil
}

// lower drops every capability outside keep from the bounding set and
// empties the inheritable and ambient sets, as runc leaves a container's
// process before it execs.
func lower(keep caps.Set) error {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return err
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("cap_last_cap: %w", err)
	}
	for c := 0; c <= last; c++ {
		if keep.Has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	return nil
}
