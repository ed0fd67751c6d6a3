package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Options describe a lab.
type Options struct {
	Hosts    int    // vxbgp hosts, h1..hN
	FRRHosts int    // FRR hosts f1..fM, each with a server namespace
	BinDir   string // holds vxbgpd, vxbgpctl, vxbgp-cni; needed when Hosts > 0
	Root     string // parent of the run's work directory; default DefaultRoot()
	Mode     string // vxbgpd mode; default overlay
	LogLevel string // vxbgpd logLevel; default info
	// NoStart writes the hosts' configs but starts no agent; the caller
	// starts them with Host.Start.
	NoStart bool
	// Configure, if set, may change a host's config before it is written.
	Configure func(h *Host, c *HostConfig)
	// Logf receives progress lines; default: discard.
	Logf func(format string, args ...any)
	// Routers are FRR routers r1..rK on the underlay (top-of-rack style):
	// IPv4 unicast eBGP/iBGP with the hosts each spec names. Hosts get them
	// as peers automatically.
	Routers []RouterSpec
	// NoMesh leaves out the host-to-host peerings: hosts peer only with
	// routers and FRR hosts.
	NoMesh bool
	// HostASN gives host i (1-based) its own ASN; default ASN for all.
	HostASN func(i int) uint32
	// DualStack gives the pod network an IPv6 subnet6/gateway6/block6
	// (podSubnet6, PodGateway6, Host.Block6) and turns IPv6 on in the host
	// namespaces; pods then get an IPv4 and an IPv6 address (Pod.IP6).
	// Each host's eth0 also gets an IPv6 underlay address (Host.Addr6,
	// fd00:250::<Index>/64), which routed mode needs.
	DualStack bool
	// Discovery replaces the static host mesh with gossip: every host
	// gets discovery.join with one seed, h1's underlay address, and no
	// other vxbgp host in bgp.peers (FRR hosts and routers stay static
	// peers). Hosts added later (AddHost) join the same way.
	Discovery bool
	// AgentWrap, if set, returns the argv put before vxbgpd's own inside
	// a host's namespace: a launcher that execs vxbgpd (so the PID stays
	// the agent's), e.g. with a container's privileges
	// (e2e/cmd/vxbgp-caps).
	AgentWrap func(h *Host) []string
	// GossipKey, with Discovery, is a base64 gossip key: the lab writes
	// it to <Dir>/gossip.key (mode 0600) and every host's
	// discovery.secretKeyFile names that file.
	GossipKey string
	// CPUGroups runs each host's daemons in a CPU cgroup of its own
	// (cpugroup.go); New fails if the machine has no cpu controller.
	CPUGroups bool
}

// Lab is one run: an underlay, vxbgp hosts, FRR hosts and pods.
type Lab struct {
	ID       string // run ID, the prefix of every namespace name
	Dir      string // work directory: configs, logs, state, sockets
	Underlay string // namespace of the underlay bridge
	Hosts    []*Host
	FRR      []*FRRHost
	Routers  []*Router

	opts    Options
	run     *runDir
	logf    func(format string, args ...any)
	keyFile string // Options.GossipKey's file, or ""

	mu      sync.Mutex
	pods    []*Pod
	closed  bool
	allowed []*regexp.Regexp // ERROR log lines a test expects (ExpectErrors)
}

// New builds the lab and, unless opts.NoStart, starts every agent and waits
// until each answers on its API socket. On error everything created so far
// is removed.
func New(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Mode == "" {
		opts.Mode = "overlay"
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.Root == "" {
		opts.Root = DefaultRoot()
	}
	if opts.Hosts > 0 {
		if err := checkBinaries(opts.BinDir); err != nil {
			return nil, err
		}
	}
	r, err := newRunDir(opts.Root)
	if err != nil {
		return nil, err
	}
	if opts.CPUGroups {
		if r.cpuRoot, err = cpuGroupRoot(); err != nil {
			return nil, errors.Join(fmt.Errorf("lab %s: cpu groups: %w", r.id, err), os.RemoveAll(r.dir))
		}
	}
	l := &Lab{ID: r.id, Dir: r.dir, Underlay: r.id + "-ul", opts: opts, run: r, logf: opts.Logf}
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	if err := l.build(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return nil, errors.Join(fmt.Errorf("build lab %s: %w", l.ID, err), l.Close(cctx))
	}
	return l, nil
}

// Binaries the lab runs from Options.BinDir.
const (
	BinAgent = "vxbgpd"
	BinCtl   = "vxbgpctl"
	BinCNI   = "vxbgp-cni"
)

func checkBinaries(dir string) error {
	if dir == "" {
		return errors.New("lab: Options.BinDir is empty")
	}
	for _, b := range []string{BinAgent, BinCtl, BinCNI} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("lab needs %s: %w", b, err)
		}
	}
	return nil
}

func (l *Lab) build(ctx context.Context) error {
	start := time.Now()
	if err := l.addNetns(ctx, l.Underlay); err != nil {
		return err
	}
	if err := ipBatch(ctx, l.Underlay, []string{"link add ul type bridge", "link set ul up"}); err != nil {
		return err
	}
	if l.opts.GossipKey != "" {
		l.keyFile = filepath.Join(l.Dir, "gossip.key")
		if err := os.WriteFile(l.keyFile, []byte(l.opts.GossipKey+"\n"), 0o600); err != nil {
			return fmt.Errorf("write gossip key: %w", err)
		}
	}
	for i := 1; i <= l.opts.Hosts; i++ {
		if err := l.newHost(ctx, i); err != nil {
			return err
		}
	}
	for j := 1; j <= l.opts.FRRHosts; j++ {
		f := newFRRHost(l, j)
		if err := l.addHostNS(ctx, f.NS, f.Name, f.Addr); err != nil {
			return err
		}
		l.FRR = append(l.FRR, f)
	}
	for k, spec := range l.opts.Routers {
		r := newRouter(l, k+1, spec)
		if err := l.addHostNS(ctx, r.NS, r.Name, r.Addr); err != nil {
			return err
		}
		l.Routers = append(l.Routers, r)
	}
	for _, h := range l.Hosts {
		if err := l.writeHostConfig(h); err != nil {
			return err
		}
	}
	for _, f := range l.FRR {
		if err := f.setup(ctx); err != nil {
			return err
		}
	}
	for _, r := range l.Routers {
		if err := r.setup(ctx); err != nil {
			return err
		}
	}
	l.logf("lab %s: %d hosts, %d FRR hosts, %d routers wired in %v (work dir %s)",
		l.ID, len(l.Hosts), len(l.FRR), len(l.Routers), time.Since(start).Round(time.Millisecond), l.Dir)
	if l.opts.NoStart {
		return nil
	}
	return l.StartAll(ctx)
}

// newHost creates host i (h<i>): its namespace with eth0 on the underlay
// and its part of the work dir, and adds it to Hosts.
func (l *Lab) newHost(ctx context.Context, i int) error {
	h := &Host{lab: l, Name: fmt.Sprintf("h%d", i), Index: i, Addr: hostAddr(i)}
	h.NS = l.ID + "-" + h.Name
	if err := l.addHostNS(ctx, h.NS, h.Name, h.Addr); err != nil {
		return err
	}
	if l.opts.DualStack {
		// An IPv6 underlay address too: routed mode's next hop for the
		// IPv6 blocks (overlay mode does not use it).
		h.Addr6 = fmt.Sprintf("%s%x", underlayPfx6, i)
		if err := ipBatch(ctx, h.NS, []string{
			fmt.Sprintf("addr add %s/%d dev eth0 nodad", h.Addr6, underlayLen6),
		}); err != nil {
			return err
		}
	}
	if err := h.prepare(); err != nil {
		return err
	}
	l.Hosts = append(l.Hosts, h)
	return nil
}

// writeHostConfig writes h's config (after Options.Configure).
func (l *Lab) writeHostConfig(h *Host) error {
	c := l.hostConfig(h)
	if l.opts.Configure != nil {
		l.opts.Configure(h, c)
	}
	if err := WriteConfig(h.ConfigPath, c); err != nil {
		return err
	}
	h.Config = c
	return nil
}

// AddHost adds the next host (h<N+1>) to a built lab: its namespace on
// the underlay, its work dir and its config (Options.Configure applies);
// its agent is not started (Host.Start). In a Discovery lab it joins
// through the seed like the others; otherwise the other hosts' configs
// stay as they are, and none of them peers with it.
func (l *Lab) AddHost(ctx context.Context) (*Host, error) {
	if err := l.newHost(ctx, len(l.Hosts)+1); err != nil {
		return nil, err
	}
	h := l.Hosts[len(l.Hosts)-1]
	if err := l.writeHostConfig(h); err != nil {
		return nil, err
	}
	l.logf("lab %s: host %s added (%s)", l.ID, h.Name, h.Addr)
	return h, nil
}

// StartAll starts every agent that is not running, then waits until all
// answer; starting them together lets their BGP sessions come up together.
func (l *Lab) StartAll(ctx context.Context) error {
	start := time.Now()
	if _, err := l.SpawnAll(); err != nil {
		return err
	}
	for _, h := range l.Hosts {
		if err := h.waitReady(ctx); err != nil {
			return err
		}
	}
	l.logf("lab %s: %d agents ready in %v", l.ID, len(l.Hosts), time.Since(start).Round(time.Millisecond))
	return nil
}

// SpawnAll starts every agent that is not running without waiting for
// any, and returns when the last one was started (Host.WaitReady waits).
func (l *Lab) SpawnAll() (time.Time, error) {
	var last time.Time
	for _, h := range l.Hosts {
		if h.Running() {
			continue
		}
		if err := h.spawn(); err != nil {
			return last, err
		}
		last = time.Now()
	}
	return last, nil
}

// Host returns host i (1-based).
func (l *Lab) Host(i int) *Host { return l.Hosts[i-1] }

// Pods returns the pods that exist now, in creation order.
func (l *Lab) Pods() []*Pod {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Pod(nil), l.pods...)
}

// frrInstances are the FRR hosts' and the routers' instances.
func (l *Lab) frrInstances() []*FRRInstance {
	var out []*FRRInstance
	for _, f := range l.FRR {
		out = append(out, f.FRRInstance)
	}
	for _, r := range l.Routers {
		out = append(out, r.FRRInstance)
	}
	return out
}

// Namespaces returns every namespace this run created.
func (l *Lab) Namespaces() []string { return l.run.netns() }

// Close stops every agent (SIGTERM), FRR daemon and recorded process of the
// run, deletes its namespaces and removes its work directory. It is safe to
// call more than once and keeps going past errors.
func (l *Lab) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	var errs []error
	for _, h := range l.Hosts {
		if err := h.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range l.frrInstances() {
		if err := f.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, removeRun(ctx, l.run, l.logf))
	return errors.Join(errs...)
}

// removeRun kills what is left of a run's recorded daemons, deletes its
// namespaces (recorded ones, and any other named after the run) and removes
// its directory.
func removeRun(ctx context.Context, r *runDir, logf func(string, ...any)) error {
	var errs []error
	for name, pid := range r.pids() {
		err := terminate(ctx, pid, r.dir, 5*time.Second)
		if err != nil && !errors.Is(err, errNotOurs) {
			errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
		}
	}
	all, err := listNetns()
	if err != nil {
		errs = append(errs, err)
	}
	names := r.netns()
	for _, n := range nsOfRun(all, r.id) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	// Pods first: deleting a pod namespace removes its veth, so the host
	// namespace then goes without a dangling peer.
	for i := len(names) - 1; i >= 0; i-- {
		if err := delNetns(ctx, names[i], r.dir); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, removeCPUGroups(r.id))
	if err := os.RemoveAll(r.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", r.dir, err))
	}
	logf("lab %s: removed %d namespaces and %s", r.id, len(names), r.dir)
	return errors.Join(errs...)
}
