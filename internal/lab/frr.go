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
	"time"
)

// FRR hosts' kernel objects, as in shared/notes/frr/RECIPE.md.
const (
	FRRBridge = "br100"
	frrDir    = "/usr/lib/frr"
)

// FRRHost is a namespace running FRR's zebra and bgpd with an L2VNI (br100 +
// vxlan100) and a "server" namespace on br100. It peers iBGP l2vpn evpn with
// every vxbgp host and every other FRR host, with advertise-all-vni.
type FRRHost struct {
	Name      string // f1, f2, ...
	Index     int
	NS        string
	Addr      string // underlay address = VTEP = router ID
	Dir       string // configs, pid files, logs and the vty sockets
	ServerNS  string
	ServerIP  string // 10.244.(199+Index).10, in the pods' /16
	ServerMAC string

	lab  *Lab
	pids map[string]int // zebra, bgpd
}

func newFRRHost(l *Lab, j int) *FRRHost {
	f := &FRRHost{
		lab: l, Name: fmt.Sprintf("f%d", j), Index: j,
		Addr:      fmt.Sprintf("%s%d", underlayPfx, 100+j),
		ServerIP:  fmt.Sprintf("10.244.%d.10", 199+j),
		ServerMAC: fmt.Sprintf("02:00:0a:f4:%02x:0a", 199+j),
		pids:      map[string]int{},
	}
	f.NS = l.ID + "-" + f.Name
	f.ServerNS = f.NS + "s"
	f.Dir = filepath.Join(l.Dir, f.Name)
	return f
}

// Server is the FRR host's server as an Endpoint for PingMatrix.
func (f *FRRHost) Server() Endpoint { return server{f} }

type server struct{ f *FRRHost }

func (s server) Label() string { return s.f.Name + "srv" }
func (s server) Netns() string { return s.f.ServerNS }
func (s server) Addr() string  { return s.f.ServerIP }

// setup builds the L2VNI and the server, writes the configs and starts
// zebra, then bgpd.
func (f *FRRHost) setup(ctx context.Context) error {
	l := f.lab
	// IPv6 off keeps router solicitations and MLD out of the tunnel.
	if err := sysctl(ctx, f.NS, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return err
	}
	if err := l.addNetns(ctx, f.ServerNS); err != nil {
		return err
	}
	if err := sysctl(ctx, f.ServerNS, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return err
	}
	if err := ipBatch(ctx, f.NS, []string{
		"link add " + FRRBridge + " type bridge",
		fmt.Sprintf("link add %s type vxlan id %d local %s dstport 4789 nolearning dev eth0", VXLANDev, VNI, f.Addr),
		fmt.Sprintf("link set %s master %s", VXLANDev, FRRBridge),
		// Data-plane learning off: the control plane owns remote MACs.
		fmt.Sprintf("link set dev %s type bridge_slave learning off", VXLANDev),
		"link set " + VXLANDev + " up",
		"link set " + FRRBridge + " up",
		"link add s1 type veth peer name eth0 netns " + f.ServerNS,
		"link set s1 mtu 1450 master " + FRRBridge + " up",
	}); err != nil {
		return err
	}
	if err := ipBatch(ctx, f.ServerNS, []string{
		"link set eth0 address " + f.ServerMAC + " mtu 1450",
		fmt.Sprintf("addr add %s/16 dev eth0", f.ServerIP),
		"link set eth0 up",
	}); err != nil {
		return err
	}
	// A static entry makes zebra advertise the server at once; FRR ignores
	// permanent entries (RECIPE gotcha 2), and a learned one would wait for
	// the server's first packet.
	if _, err := Bridge(ctx, f.NS, "fdb", "add", f.ServerMAC, "dev", "s1", "master", "static"); err != nil {
		return fmt.Errorf("static fdb for server of %s: %w", f.Name, err)
	}
	if err := f.writeConfigs(); err != nil {
		return err
	}
	return f.Start(ctx)
}

// peers are every vxbgp host and every other FRR host.
func (f *FRRHost) peers() []string {
	var out []string
	for _, h := range f.lab.Hosts {
		out = append(out, h.Addr)
	}
	for _, o := range f.lab.FRR {
		if o != f {
			out = append(out, o.Addr)
		}
	}
	return out
}

func (f *FRRHost) writeConfigs() error {
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", f.Dir, err)
	}
	zebra := fmt.Sprintf("hostname %s\nlog file %s/zebra.log informational\n", f.NS, f.Dir)
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname %s\nlog file %s/bgpd.log informational\n!\n", f.NS, f.Dir)
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp default ipv4-unicast\n", ASN, f.Addr)
	for _, p := range f.peers() {
		// Short timers and connect retry: sessions come up in seconds.
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 3 9\n neighbor %s timers connect 1\n", p, ASN, p, p)
	}
	b.WriteString(" !\n address-family l2vpn evpn\n")
	for _, p := range f.peers() {
		fmt.Fprintf(&b, "  neighbor %s activate\n", p)
	}
	b.WriteString("  advertise-all-vni\n exit-address-family\n!\n")
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

// Start starts zebra, then bgpd (they must share the zserv socket), each
// with every path in f.Dir so instances cannot collide.
func (f *FRRHost) Start(ctx context.Context) error {
	for _, d := range []string{"zebra", "bgpd"} {
		pidFile := filepath.Join(f.Dir, d+".pid")
		_ = os.Remove(pidFile)
		argv := []string{filepath.Join(frrDir, d), "-d", "-A", "127.0.0.1", "-P", "0",
			"-f", filepath.Join(f.Dir, d+".conf"), "-i", pidFile,
			"-z", filepath.Join(f.Dir, "zserv.api"), "--vty_socket", f.Dir}
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
		if err := f.lab.run.recordPID(f.Name+"-"+d, pid); err != nil {
			return err
		}
	}
	f.lab.logf("%s: FRR zebra %d bgpd %d started", f.Name, f.pids["zebra"], f.pids["bgpd"])
	return nil
}

// Stop stops bgpd, then zebra, by their recorded PIDs. zebra removes the
// FDB entries it installed when it exits.
func (f *FRRHost) Stop(ctx context.Context) error {
	var errs []error
	for _, d := range []string{"bgpd", "zebra"} {
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

// Vtysh runs one vtysh command against this instance.
func (f *FRRHost) Vtysh(ctx context.Context, cmd string) (string, error) {
	out, err := run(ctx, nil, nil, "vtysh", "--vty_socket", f.Dir, "-c", cmd)
	return string(out), err
}

// VtyshJSON runs a `... json` command and decodes its output into v.
func (f *FRRHost) VtyshJSON(ctx context.Context, cmd string, v any) error {
	out, err := f.Vtysh(ctx, cmd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("decode vtysh %q on %s: %w (%q)", cmd, f.Name, err, abbrev(out))
	}
	return nil
}

// WaitEstablished waits until every peer's session is Established.
func (f *FRRHost) WaitEstablished(ctx context.Context) error {
	want := f.peers()
	return Eventually(ctx, f.Name+" BGP sessions", pollSlow, func(ctx context.Context) (bool, error) {
		var nbrs map[string]struct {
			State string `json:"bgpState"`
		}
		if err := f.VtyshJSON(ctx, "show bgp neighbors json", &nbrs); err != nil {
			return false, err
		}
		var down []string
		for _, p := range want {
			if s := nbrs[p].State; s != "Established" {
				down = append(down, p+"="+s)
			}
		}
		if len(down) > 0 {
			return false, fmt.Errorf("not established: %v", down)
		}
		return true, nil
	})
}

// EVPNPrefixes returns every prefix of `show bgp l2vpn evpn json`, e.g.
// "[2]:[0]:[48]:[02:..]:[32]:[10.244.1.2]" and "[3]:[0]:[32]:[10.250.0.1]",
// mapped to their RD.
func (f *FRRHost) EVPNPrefixes(ctx context.Context) (map[string]string, error) {
	var top map[string]json.RawMessage
	if err := f.VtyshJSON(ctx, "show bgp l2vpn evpn json", &top); err != nil {
		return nil, err
	}
	out := map[string]string{}
	// Top-level keys are RDs (plus scalars such as routerId); under each RD
	// the keys are prefixes.
	for rd, raw := range top {
		var rdm map[string]json.RawMessage
		if json.Unmarshal(raw, &rdm) != nil {
			continue
		}
		for pfx := range rdm {
			if strings.HasPrefix(pfx, "[") {
				out[pfx] = rd
			}
		}
	}
	return out, nil
}

// Type2Prefix is FRR's text for a MAC+IP type-2 route (FRR prints MACs in
// lowercase; ip "" gives the MAC-only form).
func Type2Prefix(mac, ip string) string {
	s := "[2]:[0]:[48]:[" + strings.ToLower(mac) + "]"
	if ip != "" {
		s += ":[32]:[" + ip + "]"
	}
	return s
}

// Type3Prefix is FRR's text for a type-3 route of VTEP vtep.
func Type3Prefix(vtep string) string { return "[3]:[0]:[32]:[" + vtep + "]" }
