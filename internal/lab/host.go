package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Device names vxbgpd creates for the lab's VNI.
const (
	VXLANDev  = "vxlan100"
	BridgeDev = "vxbr100"
)

// Timeouts for one agent: startup covers the first GoBGP start on a busy
// 2-core machine, stop covers graceful shutdown.
const (
	agentReadyTimeout = 30 * time.Second
	agentStopGrace    = 15 * time.Second
)

// Host is one vxbgp host: a namespace on the underlay running vxbgpd.
type Host struct {
	Name       string // h1, h2, ...
	Index      int    // 1-based; the pod block is 10.244.<Index>.0/24
	NS         string // namespace
	Addr       string // underlay address: VTEP, BGP source, router ID
	Addr6      string // IPv6 underlay address in dual-stack labs, else ""
	Dir        string // the host's part of the work dir
	ConfigPath string
	Socket     string // the agent's API socket
	StateDir   string
	LogPath    string // vxbgpd's stdout and stderr, across restarts
	// Config is what the lab wrote to ConfigPath (after Options.Configure).
	Config *HostConfig

	lab   *Lab
	mu    sync.Mutex
	agent *daemon
	args  []string // extra vxbgpd arguments, e.g. --mode routed
	// started is every agent process started, for Lab.Health; mayExit
	// says one may exit on its own (ExpectExit).
	started []*daemon
	mayExit bool
}

func (h *Host) prepare() error {
	h.Dir = filepath.Join(h.lab.Dir, h.Name)
	h.ConfigPath = filepath.Join(h.Dir, "config.yaml")
	h.Socket = filepath.Join(h.Dir, "api.sock")
	h.StateDir = filepath.Join(h.Dir, "state")
	h.LogPath = filepath.Join(h.Dir, "vxbgpd.log")
	if err := os.MkdirAll(h.StateDir, 0o755); err != nil {
		return fmt.Errorf("create state dir of %s: %w", h.Name, err)
	}
	return nil
}

func (h *Host) bin(name string) string { return filepath.Join(h.lab.opts.BinDir, name) }

// spawn starts vxbgpd without waiting for it.
func (h *Host) spawn() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agent != nil {
		if ok, _ := h.agent.exited(); !ok {
			return fmt.Errorf("start vxbgpd on %s: already running (pid %d)", h.Name, h.agent.pid())
		}
	}
	argv := append([]string{h.bin(BinAgent), "--config", h.ConfigPath}, h.args...)
	if wrap := h.lab.opts.AgentWrap; wrap != nil {
		argv = append(wrap(h), argv...)
	}
	d, err := startDaemon(h.lab.run, h.Name+"-vxbgpd", h.NS, h.LogPath, argv...)
	if err != nil {
		return err
	}
	h.agent = d
	h.started = append(h.started, d)
	return nil
}

// Start starts vxbgpd in the host namespace and waits until its API answers.
func (h *Host) Start(ctx context.Context) error {
	if err := h.spawn(); err != nil {
		return err
	}
	return h.waitReady(ctx)
}

// Stop sends SIGTERM to vxbgpd and waits for it to exit (SIGKILL after a
// grace period, reported as an error). Stopping a stopped agent is a no-op.
func (h *Host) Stop(ctx context.Context) error {
	d := h.daemon()
	if d == nil {
		return nil
	}
	if ok, _ := d.exited(); ok {
		h.lab.run.forgetPID(d.name)
		return nil
	}
	start := time.Now()
	err := d.stop(ctx, agentStopGrace)
	h.lab.run.forgetPID(d.name)
	if err != nil {
		return fmt.Errorf("stop vxbgpd on %s: %w", h.Name, err)
	}
	h.lab.logf("%s: vxbgpd stopped in %v", h.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// Kill sends SIGKILL to vxbgpd and waits until it has exited: a crash,
// with no chance to clean up (the kernel still closes its sockets, so its
// peers see the sessions close). Killing a stopped agent is a no-op.
func (h *Host) Kill(ctx context.Context) error {
	d := h.daemon()
	if d == nil {
		return nil
	}
	if err := d.kill(ctx); err != nil {
		return fmt.Errorf("kill vxbgpd on %s: %w", h.Name, err)
	}
	h.lab.run.forgetPID(d.name)
	return nil
}

// daemon is the agent's process, the latest one started, or nil.
func (h *Host) daemon() *daemon {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agent
}

// setArgs sets extra vxbgpd arguments (after --config) for every later
// start, e.g. setArgs("--mode", "routed"); no arguments clears them.
func (h *Host) setArgs(args ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.args = append([]string(nil), args...)
}

// RestartWith stops vxbgpd and starts it again with extra arguments args
// (see setArgs), e.g. to switch its mode.
func (h *Host) RestartWith(ctx context.Context, args ...string) error {
	if err := h.Stop(ctx); err != nil {
		return err
	}
	h.setArgs(args...)
	return h.Start(ctx)
}

// Running reports whether vxbgpd runs.
func (h *Host) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agent == nil {
		return false
	}
	ok, _ := h.agent.exited()
	return !ok
}

// PID is vxbgpd's process ID, or 0.
func (h *Host) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agent == nil {
		return 0
	}
	return h.agent.pid()
}

// errAgentExited ends a wait early: the agent will not become ready.
var errAgentExited = errors.New("vxbgpd exited")

// checkAlive returns a Permanent error if the agent has exited, with the
// tail of its log, so a crashing agent fails a wait at once, not at timeout.
func (h *Host) checkAlive() error {
	d := h.daemon()
	if d == nil {
		return Permanent(fmt.Errorf("%s: vxbgpd not started", h.Name))
	}
	if ok, err := d.exited(); ok {
		return Permanent(fmt.Errorf("%s: %w (%v); log tail:\n%s", h.Name, errAgentExited, err, tail(h.LogPath, 15)))
	}
	return nil
}

// waitReady waits until the agent answers `vxbgpctl status`.
func (h *Host) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, agentReadyTimeout)
	defer cancel()
	start := time.Now()
	err := Eventually(ctx, h.Name+" agent API", pollSlow/2, func(ctx context.Context) (bool, error) {
		if err := h.checkAlive(); err != nil {
			return false, err
		}
		if _, err := os.Stat(h.Socket); err != nil {
			return false, err
		}
		_, err := h.Status(ctx)
		return err == nil, err
	})
	if err != nil {
		return err
	}
	h.lab.logf("%s: vxbgpd ready in %v", h.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogTail returns the last n lines of every agent's and FRR daemon's log,
// for a failed test's output.
func (l *Lab) LogTail(n int) string {
	var b strings.Builder
	for _, h := range l.Hosts {
		fmt.Fprintf(&b, "----- %s vxbgpd (%s)\n%s\n", h.Name, h.LogPath, tail(h.LogPath, n))
	}
	for _, f := range l.frrInstances() {
		for _, p := range f.logPaths() {
			fmt.Fprintf(&b, "----- %s %s (%s)\n%s\n", f.Name, strings.TrimSuffix(filepath.Base(p), ".log"), p, tail(p, n))
		}
	}
	return b.String()
}

// SaveLogs copies every daemon log of the run into dir (created), so they
// outlive Close when a test fails.
func (l *Lab) SaveLogs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var paths []string
	for _, h := range l.Hosts {
		paths = append(paths, h.LogPath)
	}
	for _, f := range l.frrInstances() {
		paths = append(paths, f.logPaths()...)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // a daemon that never started has no log
		}
		name := filepath.Base(filepath.Dir(p)) + "-" + filepath.Base(p) // h1-vxbgpd.log
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("save %s: %w", p, err)
		}
	}
	return nil
}
