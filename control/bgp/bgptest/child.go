package bgptest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/testlog"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// What StartChild tells the child: the name of the test it runs, and
// ChildOptions.Listen.
const (
	childEnv       = "VXBGP_TEST_CHILD"
	childListenEnv = "VXBGP_TEST_CHILD_LISTEN"
)

// Child is the test binary re-executed to run one test as a process of its
// own, typically a speaker or an agent: only a real process exit closes
// its BGP sessions the way an agent restart does, with no NOTIFICATION,
// just FIN.
type Child struct {
	cmd    *exec.Cmd
	stderr testlog.Buffer
	done   chan error // Wait's result; put back by whoever takes it
}

// ChildOptions configure StartChild.
type ChildOptions struct {
	Name   string   // for failure messages
	Listen string   // "ip:port" where the child's speaker listens (see RunChild)
	Env    []string // added to the child's environment, "KEY=value"
	// BeforeKill, if set, runs in the test's cleanup just before the
	// child is killed.
	BeforeKill func()
}

// StartChild runs the test named test in a new process of this test
// binary, with o.Env, and waits until it prints "ready" on its standard
// output. The test's body calls RunChild. The child is killed when t ends;
// if t failed, its standard error is logged.
func StartChild(t testing.TB, test string, o ChildOptions) *Child {
	t.Helper()
	c := &Child{done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v=false")
	c.cmd.Env = append(append(os.Environ(), childEnv+"="+test, childListenEnv+"="+o.Listen), o.Env...)
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		buf := make([]byte, 256)
		var got []byte
		signalled := false
		for {
			n, err := out.Read(buf)
			got = append(got, buf[:n]...)
			if !signalled && strings.Contains(string(got), "ready") {
				ready <- true
				signalled = true
			}
			if err != nil {
				if !signalled {
					ready <- false
				}
				c.done <- c.cmd.Wait()
				return
			}
		}
	}()
	t.Cleanup(func() {
		if o.BeforeKill != nil {
			o.BeforeKill()
		}
		_ = c.cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("child %s stderr:\n%s", o.Name, c.Stderr())
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("child %s exited before ready:\n%s", o.Name, c.Stderr())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("child %s not ready:\n%s", o.Name, c.Stderr())
	}
	return c
}

// RunChild is the body of a test that StartChild runs. In the child it
// runs body and exits the process, with status 2 and body's error on
// standard error if body fails; in a normal run it skips t. body gets a
// context that ends on SIGTERM, as vxbgpd's does, and a configuration for
// its speaker: ASN, the address and port of ChildOptions.Listen (without
// it, no listener) and a logger to standard error. body prints "ready" on
// standard output once it is.
func RunChild(t testing.TB, body func(ctx context.Context, c bgp.Config) error) {
	if os.Getenv(childEnv) != t.Name() {
		t.Skip("helper process, run by another test (bgptest.StartChild)")
	}
	if err := runChild(body); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func runChild(body func(ctx context.Context, c bgp.Config) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c := bgp.Config{ASN: ASN, ListenPort: -1,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if l := os.Getenv(childListenEnv); l != "" {
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			return err
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return fmt.Errorf("listen port %q: %w", port, err)
		}
		c.ListenAddress, c.ListenPort = host, int32(p)
	}
	return body(ctx, c)
}

// Stderr is what the child wrote to its standard error so far.
func (c *Child) Stderr() string { return c.stderr.String() }

// Terminate sends the child SIGTERM and waits for a clean exit.
func (c *Child) Terminate(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("child exit: %v\n%s", err, c.Stderr())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child did not exit after SIGTERM")
	}
}

// Kill sends the child SIGKILL and waits until it has exited: a crash,
// whose sockets the kernel closes.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("child did not die after SIGKILL")
	}
}
