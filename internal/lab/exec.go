package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/vxbgp/vxbgp/internal/netnsdo"
)

// cmdError is a failed command with its stderr, because an exec.ExitError
// alone only says "exit status 1".
type cmdError struct {
	Argv   []string
	Stderr string
	Err    error
}

func (e *cmdError) Error() string {
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.Argv, " "), e.Err, strings.TrimSpace(e.Stderr))
}

func (e *cmdError) Unwrap() error { return e.Err }

// transient builds a short-lived command that dies with the harness
// (Pdeathsig), so a crashed test leaves no pings or captures running, and
// that is killed when ctx ends.
func transient(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Without WaitDelay a child that inherited our pipes could keep Wait
	// blocked after ctx ended.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs argv with stdin and returns its stdout; a failure carries stderr.
func run(ctx context.Context, stdin []byte, env []string, argv ...string) ([]byte, error) {
	return runStarted(ctx, stdin, env, argv, (*exec.Cmd).Start)
}

// runIn is run with argv started from a thread inside network namespace
// ns, the way a container runtime starts a CNI plugin from its own: the
// child inherits the namespace and nothing else. `ip netns exec` also
// unshares a mount namespace and remounts /sys, which with a thousand
// namespaces mounted costs ~4 ms of CPU a call, and none of our plugins
// nor the reference ones read /sys.
func runIn(ctx context.Context, ns string, stdin []byte, env []string, argv ...string) ([]byte, error) {
	return runStarted(ctx, stdin, env, argv, func(cmd *exec.Cmd) error {
		return netnsdo.DoNamed(ns, cmd.Start)
	})
}

// runStarted is run with start starting the command.
func runStarted(ctx context.Context, stdin []byte, env []string, argv []string, start func(*exec.Cmd) error) ([]byte, error) {
	cmd := transient(ctx, argv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return stdout.Bytes(), &cmdError{Argv: argv, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// RunEnv runs argv with stdin and env (nil: inherit) and returns stdout; a
// failure carries stderr.
func RunEnv(ctx context.Context, stdin []byte, env []string, argv ...string) ([]byte, error) {
	return run(ctx, stdin, env, argv...)
}

// nsArgv prefixes argv with `ip netns exec ns`, which also remounts /sys for
// the namespace (netlink-based tools and the agent read it).
func nsArgv(ns string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

// Exec runs argv inside namespace ns and returns its stdout.
func Exec(ctx context.Context, ns string, argv ...string) (string, error) {
	out, err := run(ctx, nil, nil, nsArgv(ns, argv...)...)
	return string(out), err
}

// IP runs `ip -n ns args...` and returns its stdout.
func IP(ctx context.Context, ns string, args ...string) (string, error) {
	out, err := run(ctx, nil, nil, append([]string{"ip", "-n", ns}, args...)...)
	return string(out), err
}

// Bridge runs `bridge -n ns args...` and returns its stdout.
func Bridge(ctx context.Context, ns string, args ...string) (string, error) {
	out, err := run(ctx, nil, nil, append([]string{"bridge", "-n", ns}, args...)...)
	return string(out), err
}

// ipBatch runs several `ip` commands in one process per namespace; a lab
// setup issues dozens, and one fork each would dominate setup time.
func ipBatch(ctx context.Context, ns string, lines []string) error {
	in := []byte(strings.Join(lines, "\n") + "\n")
	if _, err := run(ctx, in, nil, "ip", "-n", ns, "-batch", "-"); err != nil {
		return fmt.Errorf("ip batch in %s: %w", ns, err)
	}
	return nil
}
