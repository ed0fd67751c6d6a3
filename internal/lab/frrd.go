package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// frrDir holds FRR's daemons.
const frrDir = "/usr/lib/frr"

// frrDaemons are the daemons of an instance, in start order (zebra first:
// bgpd connects to its zserv socket); they stop in reverse order.
var frrDaemons = []string{"zebra", "bgpd"}

// FRRInstance is one FRR instance (zebra + bgpd) in its own namespace on
// the underlay, with every path in Dir (configs, pid files, logs, the zserv
// and vty sockets) so instances cannot collide, and optionally a server
// namespace behind it. FRRHost (EVPN) and Router (IPv4 unicast) embed it
// and differ only in how they wire their namespace and what bgpd.conf says
// after the neighbours.
type FRRInstance struct {
	Name     string // f1, r1, ...
	Index    int
	NS       string
	Addr     string // underlay address = router ID (an FRR host's VTEP too)
	Dir      string
	ServerNS string // the server's namespace, "" without one
	ServerIP string

	lab     *Lab
	pids    map[string]int // by daemon name
	bgpPort int            // bgpd's listen port (-p); 0: 179
}

func newFRRInstance(l *Lab, name string, index int, addr string, server bool) *FRRInstance {
	f := &FRRInstance{lab: l, Name: name, Index: index, Addr: addr, NS: l.ID + "-" + name,
		Dir: filepath.Join(l.Dir, name), pids: map[string]int{}}
	if server {
		f.ServerNS = f.NS + "s"
	}
	return f
}

// Server is the instance's server as an Endpoint for PingMatrix.
func (f *FRRInstance) Server() Endpoint { return server{f} }

type server struct{ f *FRRInstance }

func (s server) Label() string { return s.f.Name + "srv" }
func (s server) Netns() string { return s.f.ServerNS }
func (s server) Addr() string  { return s.f.ServerIP }

// prepare turns IPv6 off in the instance's namespace and creates the
// server's namespace, if any, with IPv6 off too: that keeps router
// solicitations and MLD out of tunnels and sessions.
func (f *FRRInstance) prepare(ctx context.Context) error {
	if err := disableIPv6(ctx, f.NS); err != nil {
		return err
	}
	if f.ServerNS == "" {
		return nil
	}
	if err := f.lab.addNetns(ctx, f.ServerNS); err != nil {
		return err
	}
	return disableIPv6(ctx, f.ServerNS)
}

func disableIPv6(ctx context.Context, ns string) error {
	return sysctl(ctx, ns, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
}

// frrPeer is one BGP neighbour of an instance.
type frrPeer struct {
	addr string
	asn  uint32
}

func peerAddrs(peers []frrPeer) []string {
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.addr
	}
	return out
}

// writeConfigs writes zebra.conf and bgpd.conf: `router bgp asn` with
// every peer on short timers and connect retry (sessions come up in
// seconds), then global (extra lines, which may name the neighbours), then
// af, the address-family block.
func (f *FRRInstance) writeConfigs(asn uint32, global string, peers []frrPeer, af string) error {
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", f.Dir, err)
	}
	zebra := fmt.Sprintf("hostname %s\nlog file %s/zebra.log informational\n", f.NS, f.Dir)
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname %s\nlog file %s/bgpd.log informational\n!\n", f.NS, f.Dir)
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp default ipv4-unicast\n", asn, f.Addr)
	for _, p := range peers {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 3 9\n neighbor %s timers connect 1\n",
			p.addr, p.asn, p.addr, p.addr)
	}
	b.WriteString(global)
	b.WriteString(" !\n" + af + "!\n")
	for name, text := range map[string]string{"zebra.conf": zebra, "bgpd.conf": b.String()} {
		if err := os.WriteFile(filepath.Join(f.Dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s of %s: %w", name, f.Name, err)
		}
	}
	// The daemons drop to user frr and create sockets and logs here.
	return chownFRR(f.Dir)
}

func chownFRR(dir string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("look up user frr: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
		return nil
	})
}

// start starts zebra, then bgpd, each with every path in f.Dir.
func (f *FRRInstance) start(ctx context.Context) error {
	for _, d := range frrDaemons {
		if err := f.startDaemon(ctx, d); err != nil {
			return err
		}
	}
	f.lab.logf("%s: FRR zebra %d bgpd %d started", f.Name, f.pids["zebra"], f.pids["bgpd"])
	return nil
}

// startDaemon starts one daemon (zebra or bgpd) and records its PID.
func (f *FRRInstance) startDaemon(ctx context.Context, d string) error {
	pidFile := filepath.Join(f.Dir, d+".pid")
	_ = os.Remove(pidFile)
	argv := []string{filepath.Join(frrDir, d), "-d", "-A", "127.0.0.1", "-P", "0",
		"-f", filepath.Join(f.Dir, d+".conf"), "-i", pidFile,
		"-z", filepath.Join(f.Dir, "zserv.api"), "--vty_socket", f.Dir}
	if d == "zebra" {
		// Debian's /etc/frr/daemons starts zebra with this netlink receive
		// buffer; with the 4 MB default, zebra's listener overruns while it
		// installs ~100k FDB entries and FRR 8.4 then exits ("recvmsg
		// overrun"), taking the reference down mid-row.
		argv = append(argv, "-s", "90000000")
	}
	if d == "bgpd" && f.bgpPort != 0 {
		argv = append(argv, "-p", strconv.Itoa(f.bgpPort))
	}
	// -d forks and returns once the daemon is up; the daemon itself is
	// no child of ours, so we learn its PID from the pid file.
	if _, err := run(ctx, nil, nil, nsArgv(f.NS, argv...)...); err != nil {
		return fmt.Errorf("start %s on %s: %w", d, f.Name, err)
	}
	var pid int
	err := Eventually(ctx, d+" pid file on "+f.Name, pollFast, func(context.Context) (bool, error) {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false, err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0, err
	})
	if err != nil {
		return err
	}
	f.pids[d] = pid
	return f.lab.run.recordPID(f.Name+"-"+d, pid)
}

// StopBGPD stops bgpd, with SIGKILL (kill, as a crash would) or SIGTERM,
// and waits for it to be gone; zebra stays up. Start it again with
// StartBGPD.
func (f *FRRInstance) StopBGPD(ctx context.Context, kill bool) error {
	pid, ok := f.pids["bgpd"]
	if !ok {
		return fmt.Errorf("%s: bgpd not running", f.Name)
	}
	var err error
	if kill {
		err = killWait(ctx, pid, f.Dir)
	} else {
		err = terminate(ctx, pid, f.Dir, 10*time.Second)
	}
	if err != nil {
		return fmt.Errorf("stop bgpd on %s: %w", f.Name, err)
	}
	delete(f.pids, "bgpd")
	f.lab.run.forgetPID(f.Name + "-bgpd")
	return nil
}

// StartBGPD starts bgpd again (after KillBGPD) with the same config.
func (f *FRRInstance) StartBGPD(ctx context.Context) error { return f.startDaemon(ctx, "bgpd") }

// stop stops bgpd, then zebra, by their recorded PIDs. zebra removes the
// FDB entries it installed when it exits.
func (f *FRRInstance) stop(ctx context.Context) error {
	var errs []error
	for i := len(frrDaemons) - 1; i >= 0; i-- {
		d := frrDaemons[i]
		pid, ok := f.pids[d]
		if !ok {
			continue
		}
		if err := terminate(ctx, pid, f.Dir, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s on %s: %w", d, f.Name, err))
			continue
		}
		delete(f.pids, d)
		f.lab.run.forgetPID(f.Name + "-" + d)
	}
	return errors.Join(errs...)
}

// PIDs returns the running daemons' PIDs by name (zebra, bgpd).
func (f *FRRInstance) PIDs() map[string]int {
	out := map[string]int{}
	for k, v := range f.pids {
		out[k] = v
	}
	return out
}

// logPaths are the daemons' log files.
func (f *FRRInstance) logPaths() []string {
	var out []string
	for _, d := range frrDaemons {
		out = append(out, filepath.Join(f.Dir, d+".log"))
	}
	return out
}

// Vtysh runs one vtysh command against this instance.
func (f *FRRInstance) Vtysh(ctx context.Context, cmd string) (string, error) {
	out, err := run(ctx, nil, nil, "vtysh", "--vty_socket", f.Dir, "-c", cmd)
	return string(out), err
}

// vtyshJSON runs a `... json` command and decodes its output into v.
func (f *FRRInstance) vtyshJSON(ctx context.Context, cmd string, v any) error {
	out, err := f.Vtysh(ctx, cmd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("decode vtysh %q on %s: %w (%q)", cmd, f.Name, err, abbrev(out))
	}
	return nil
}

// Neighbours is `show bgp neighbors json`: each neighbour's session state
// (Established, Active, ...) by address.
func (f *FRRInstance) Neighbours(ctx context.Context) (map[string]string, error) {
	var nbrs map[string]struct {
		State string `json:"bgpState"`
	}
	if err := f.vtyshJSON(ctx, "show bgp neighbors json", &nbrs); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for a, n := range nbrs {
		out[a] = n.State
	}
	return out, nil
}

// WaitEstablished waits until the session with every one of peers is
// Established.
func (f *FRRInstance) WaitEstablished(ctx context.Context, peers ...string) error {
	return Eventually(ctx, f.Name+" BGP sessions", pollSlow, func(ctx context.Context) (bool, error) {
		nbrs, err := f.Neighbours(ctx)
		if err != nil {
			return false, err
		}
		var down []string
		for _, p := range peers {
			if s := nbrs[p]; s != "Established" {
				down = append(down, p+"="+s)
			}
		}
		if len(down) > 0 {
			return false, fmt.Errorf("not established: %v", down)
		}
		return true, nil
	})
}

// killWait sends pid (whose command line must contain marker) SIGKILL and
// waits until it is gone.
func killWait(ctx context.Context, pid int, marker string) error {
	if !alive(pid) {
		return nil
	}
	if !cmdlineContains(pid, marker) {
		return fmt.Errorf("kill %d: %w", pid, errNotOurs)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sigkill %d: %w", pid, err)
	}
	return Eventually(ctx, fmt.Sprintf("pid %d to die", pid), pollFast, func(context.Context) (bool, error) {
		return !alive(pid), nil
	})
}

// Session is one neighbour of `show bgp neighbors json` (FRR 8.4): its
// state, the TCP ports (0 when down) and why it last went down.
type Session struct {
	State       string `json:"bgpState"`
	PortLocal   int    `json:"portLocal"`
	PortForeign int    `json:"portForeign"`
	LastReset   string `json:"lastResetDueTo"`
	// LastNotification is the last NOTIFICATION's reason, e.g.
	// "Cease/Hard Reset".
	LastNotification string `json:"lastNotificationReason"`
	// Established counts the times the session came up.
	Established int `json:"connectionsEstablished"`
}

// Sessions is `show bgp neighbors json`, by neighbour address.
func (f *FRRInstance) Sessions(ctx context.Context) (map[string]Session, error) {
	var out map[string]Session
	if err := f.vtyshJSON(ctx, "show bgp neighbors json", &out); err != nil {
		return nil, err
	}
	return out, nil
}
