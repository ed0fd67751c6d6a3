package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// filter is what the launcher's seccomp filter enforces, each as the
// systemd setting it stands for (systemd.exec(5)); the zero value installs
// nothing.
type filter struct {
	allow    []uint32 // SystemCallFilter= allow list (syscall numbers); nil: all
	errno    uint32   // SystemCallErrorNumber= for calls outside allow; 0: kill the process (systemd's default)
	families []uint32 // RestrictAddressFamilies= allow list for socket(2)
	noNS     bool     // RestrictNamespaces=yes
	noWX     bool     // MemoryDenyWriteExecute=yes
}

func (f filter) empty() bool {
	return f.allow == nil && f.families == nil && !f.noNS && !f.noWX
}

// parseNumbers reads a comma-separated list of numbers.
func parseNumbers(s string) ([]uint32, error) {
	if s == "" {
		return nil, nil
	}
	var out []uint32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 0, 32)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
	// The namespace flags of clone(2) and unshare(2).
	nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME
	x32Bit  = 0x40000000 // __X32_SYSCALL_BIT
	shmExec = 0o100000   // SHM_EXEC of shmat(2)
)

func retErrno(e uint32) uint32 { return unix.SECCOMP_RET_ERRNO | (e & unix.SECCOMP_RET_DATA) }

// seccomp_data offsets: nr, arch, then the arguments (low 32 bits first on
// little-endian amd64).
const (
	offNr   = 0
	offArch = 4
)

func offArg(i int) uint32 { return 16 + 8*uint32(i) }

func ld(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}
func ret(v uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: v} }

// jeq: if A == k go on, else skip n instructions.
func jeq(k uint32, n uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: 0, Jf: n}
}

// jset: if A & k go on, else skip n instructions.
func jset(k uint32, n uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: k, Jt: 0, Jf: n}
}

// program builds the filter as systemd does on x86-64: other
// architectures and the x32 ABI are killed (SystemCallArchitectures=
// native), then the argument checks, then the allow list.
func (f filter) program() ([]unix.SockFilter, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the seccomp emulation is written for amd64, not %s", runtime.GOARCH)
	}
	p := []unix.SockFilter{
		ld(offArch), {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.AUDIT_ARCH_X86_64, Jt: 1}, ret(retKill),
		ld(offNr), jset(x32Bit, 1), ret(retKill),
	}
	// nrIs runs block (which ends with A = nr again, or returns) for
	// syscall nr only.
	nrIs := func(nr uint32, block ...unix.SockFilter) {
		p = append(p, jeq(nr, uint8(len(block))))
		p = append(p, block...)
	}
	if f.families != nil {
		block := []unix.SockFilter{ld(offArg(0))}
		for _, af := range f.families {
			block = append(block, jeq(af, 1), ret(retAllow))
		}
		nrIs(unix.SYS_SOCKET, append(block, ret(retErrno(uint32(unix.EAFNOSUPPORT))))...)
	}
	if f.noNS {
		eperm := ret(retErrno(uint32(unix.EPERM)))
		nrIs(unix.SYS_UNSHARE, eperm)
		nrIs(unix.SYS_SETNS, eperm)
		nrIs(unix.SYS_CLONE, ld(offArg(0)), jset(nsFlags, 1), eperm, ld(offNr))
		// clone3's flags are behind a pointer: systemd answers ENOSYS so
		// that callers fall back to clone.
		nrIs(unix.SYS_CLONE3, ret(retErrno(uint32(unix.ENOSYS))))
	}
	if f.noWX {
		eperm := ret(retErrno(uint32(unix.EPERM)))
		wx := uint32(unix.PROT_WRITE | unix.PROT_EXEC)
		nrIs(unix.SYS_MMAP, ld(offArg(2)), unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: wx}, jeq(wx, 1), eperm, ld(offNr))
		nrIs(unix.SYS_MPROTECT, ld(offArg(2)), jset(unix.PROT_EXEC, 1), eperm, ld(offNr))
		nrIs(unix.SYS_PKEY_MPROTECT, ld(offArg(2)), jset(unix.PROT_EXEC, 1), eperm, ld(offNr))
		nrIs(unix.SYS_SHMAT, ld(offArg(2)), jset(shmExec, 1), eperm, ld(offNr))
	}
	if f.allow == nil {
		return append(p, ret(retAllow)), nil
	}
	for _, nr := range f.allow {
		p = append(p, jeq(nr, 1), ret(retAllow))
	}
	if f.errno == 0 {
		p = append(p, ret(retKill))
	} else {
		p = append(p, ret(retErrno(f.errno)))
	}
	if len(p) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp filter of %d instructions, the kernel takes %d", len(p), unix.BPF_MAXINSNS)
	}
	return p, nil
}

// install loads the filter on the calling thread; the program exec'd
// from it inherits it. Like systemd, it runs last, just before the exec.
func (f filter) install() error {
	if f.empty() {
		return nil
	}
	p, err := f.program()
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(p)), Filter: &p[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("install seccomp filter: %w", err)
	}
	return nil
}
