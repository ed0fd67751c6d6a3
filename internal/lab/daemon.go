package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// daemon is a long-running process the lab started inside a namespace, with
// its output appended to a log file. Unlike transient commands it has no
// Pdeathsig: with KEEP=1 the demo exits and leaves the daemons running.
type daemon struct {
	name string // record name under pids/, e.g. "h1-vxbgpd"
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the Wait result, valid once done is closed
	// asked: the lab stopped or killed it, so its exit is no failure.
	asked atomic.Bool
}

// startDaemon starts argv in ns with stdout and stderr appended to logPath,
// and records its PID in the run directory.
func startDaemon(r *runDir, name, ns, logPath string, argv ...string) (*daemon, error) {
	logf, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	fmt.Fprintf(logf, "=== %s: start %v\n", time.Now().Format(time.RFC3339Nano), argv)
	full := nsArgv(ns, argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C in the demo's terminal reaches only the
	// harness, which then stops the daemons in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	// `ip netns exec` execs the program, so this PID is the daemon's own.
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	if err := r.recordPID(name, cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// pid is the daemon's process ID.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// exited reports whether the daemon has exited, and how.
func (d *daemon) exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM and waits up to grace, then SIGKILL. It returns the
// exit error of a clean SIGTERM exit as nil, and errKilled when SIGKILL
// was needed.
func (d *daemon) stop(ctx context.Context, grace time.Duration) error {
	if ok, _ := d.exited(); ok {
		return nil
	}
	d.asked.Store(true)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sigterm %s: %w", d.name, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-d.done:
		return exitStatus(d.err)
	case <-ctx.Done():
	case <-t.C:
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	return fmt.Errorf("stop %s (pid %d): %w", d.name, d.pid(), errKilled)
}

// kill sends SIGKILL and waits until the daemon has exited.
func (d *daemon) kill(ctx context.Context) error {
	d.asked.Store(true)
	if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sigkill %s: %w", d.name, err)
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for %s (pid %d) to die: %w", d.name, d.pid(), ctx.Err())
	}
}

// errKilled says a daemon ignored SIGTERM for its grace period.
var errKilled = errors.New("did not exit on SIGTERM, killed")

// exitStatus turns "signal: terminated" into nil: a daemon that exits by
// the default SIGTERM action has still stopped as asked.
func exitStatus(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return err
}
