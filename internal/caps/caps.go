// Package caps names Linux capabilities and computes the sets the agent
// runs with under a container runtime or systemd, for the tests that run
// vxbgpd with exactly those privileges (e2e/cmd/vxbgp-caps and the
// privilege tests in e2e).
package caps

import (
	"fmt"
	"slices"
	"strings"
)

// names is every capability by number (include/uapi/linux/capability.h,
// up to CAP_CHECKPOINT_RESTORE = 40), without the CAP_ prefix.
var names = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
	"CHECKPOINT_RESTORE",
}

// ContainerdDefault is the set a container of containerd 1.6's CRI gets
// when its securityContext adds and drops nothing (oci.defaultUnixCaps,
// the same list as Docker's and runc's spec template).
var ContainerdDefault = []string{
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}

// Set is a capability set as the kernel's mask: bit n is capability n, as
// /proc/PID/status shows CapEff.
type Set uint64

// Parse reads capability names, with or without the CAP_ prefix, in any
// case (Kubernetes writes NET_ADMIN, systemd CAP_NET_ADMIN).
func Parse(list []string) (Set, error) {
	var s Set
	for _, n := range list {
		i := slices.Index(names, strings.TrimPrefix(strings.ToUpper(n), "CAP_"))
		if i < 0 {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
		s |= 1 << i
	}
	return s, nil
}

// All is every capability this package knows.
func All() Set { return 1<<len(names) - 1 }

// Container is the set containerd's CRI gives a container whose
// securityContext.capabilities has add and drop (pkg/cri/opts
// WithCapabilities): the runtime's default, or every capability if add
// holds ALL, or none if drop holds ALL; then the named adds; then minus
// the named drops.
func Container(add, drop []string) (Set, error) {
	s, err := Parse(ContainerdDefault)
	if err != nil {
		return 0, err
	}
	isAll := func(c string) bool { return strings.EqualFold(c, "ALL") }
	if slices.ContainsFunc(add, isAll) {
		s = All()
	}
	if slices.ContainsFunc(drop, isAll) {
		s = 0
	}
	a, err := Parse(slices.DeleteFunc(slices.Clone(add), isAll))
	if err != nil {
		return 0, fmt.Errorf("capabilities.add: %w", err)
	}
	d, err := Parse(slices.DeleteFunc(slices.Clone(drop), isAll))
	if err != nil {
		return 0, fmt.Errorf("capabilities.drop: %w", err)
	}
	return (s | a) &^ d, nil
}

// Has reports whether capability number n is in s.
func (s Set) Has(n int) bool { return n >= 0 && n < 64 && s&(1<<n) != 0 }

// Names lists s's capabilities as CAP_ names, in number order.
func (s Set) Names() []string {
	var out []string
	for i, n := range names {
		if s.Has(i) {
			out = append(out, "CAP_"+n)
		}
	}
	return out
}

// String is the mask as /proc/PID/status writes it.
func (s Set) String() string { return fmt.Sprintf("%016x", uint64(s)) }
