package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procIdentity returns "PID STARTTIME" for pid; the start time (field 22 of
// /proc/PID/stat) tells a live process from a later one that reused the PID.
func procIdentity(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// comm (field 2) may hold spaces; fields after the last ')' are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", fmt.Errorf("parse stat of %d: no comm", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const startTime = 22 - 3 // fields 3.. follow comm
	if len(f) <= startTime {
		return "", fmt.Errorf("parse stat of %d: %d fields", pid, len(f))
	}
	return strconv.Itoa(pid) + " " + f[startTime], nil
}

// cmdlineContains reports whether pid runs with s somewhere in its argv; it
// is how we make sure a recorded PID is still the daemon we started, not an
// unrelated process that reused the number.
func cmdlineContains(pid int, s string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), []byte(s))
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || !bytes.HasPrefix(bytes.TrimSpace(b[i+1:]), []byte("Z"))
}

// errNotOurs says a recorded PID now belongs to someone else.
var errNotOurs = errors.New("pid no longer runs a command of this lab")

// terminate sends SIGTERM to pid if its cmdline contains marker, waits up to
// grace for it to exit, then sends SIGKILL and waits again. A process that
// is already gone is not an error.
func terminate(ctx context.Context, pid int, marker string, grace time.Duration) error {
	if !alive(pid) {
		return nil
	}
	if !cmdlineContains(pid, marker) {
		return fmt.Errorf("terminate %d: %w", pid, errNotOurs)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sigterm %d: %w", pid, err)
	}
	wctx, cancel := context.WithTimeout(ctx, grace)
	err := Eventually(wctx, fmt.Sprintf("pid %d to exit", pid), pollFast, func(context.Context) (bool, error) {
		return !alive(pid), nil
	})
	cancel()
	if err == nil {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sigkill %d: %w", pid, err)
	}
	wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return Eventually(wctx, fmt.Sprintf("pid %d to die", pid), pollFast, func(context.Context) (bool, error) {
		return !alive(pid), nil
	})
}
