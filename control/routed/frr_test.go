package routed

// Real FRR 8.4 routers (zebra + bgpd, each in a network namespace of its
// own, as in notes/frr/RECIPE.md §3) as two top-of-rack upstreams of an
// in-process host, over eBGP.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

const frrDir = "/usr/lib/frr"

// fabric is a shared L2 segment: a bridge in a namespace of its own, with
// the root namespace (where the in-process speaker runs) attached by a
// veth pair, as a host's uplink. Addresses are from a /24 of 198.18.0.0/15
// (RFC 2544 benchmarking) that no root-namespace interface uses: the host
// is .1, router n is .10+n.
type fabric struct {
	ns   string
	base netip.Addr
	host netip.Addr
	n    int
}

func newFabric(t *testing.T) *fabric {
	t.Helper()
	for _, d := range []string{"zebra", "bgpd"} {
		if _, err := os.Stat(filepath.Join(frrDir, d)); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("test needs FRR's %s: %v", d, err)
			}
			t.Skipf("SKIPPED: test needs FRR's %s (%v)", d, err)
		}
	}
	nstest.RequireTool(t, "vtysh")
	_, ns := nstest.New(t, "vxf")
	fb := &fabric{ns: ns, base: freeNet(t)}
	fb.host = fb.base.Next()
	nstest.IP(t, ns, "link", "add", "br0", "type", "bridge")
	nstest.IP(t, ns, "link", "set", "br0", "up")
	link := nstest.UniqueName("vxr")
	nstest.Run(t, "ip", "link", "add", link, "type", "veth", "peer", "name", "host", "netns", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", link).Run() }) // gone with the namespace anyway
	nstest.IP(t, ns, "link", "set", "host", "master", "br0", "up")
	nstest.Run(t, "ip", "addr", "add", fb.host.String()+"/24", "dev", link)
	nstest.Run(t, "ip", "link", "set", link, "up")
	return fb
}

// freeNet picks a /24 in 198.18.0.0/15 that no interface of the root
// namespace uses, and returns its network address.
func freeNet(t *testing.T) netip.Addr {
	t.Helper()
	for range 20 {
		var r [2]byte
		if _, err := rand.Read(r[:]); err != nil {
			t.Fatal(err)
		}
		base := netip.AddrFrom4([4]byte{198, 18 + r[0]&1, r[1], 0})
		if out := nstest.Run(t, "ip", "-4", "addr", "show", "to", netip.PrefixFrom(base, 24).String()); strings.TrimSpace(out) == "" {
			return base
		}
	}
	t.Fatal("no free /24 in 198.18.0.0/15")
	return netip.Addr{}
}

// frr is one FRR router in a namespace of its own, on the fabric.
type frr struct {
	name, ns, dir string
	asn           uint32
	addr, host    netip.Addr
}

// startFRR starts zebra, then bgpd, in a new namespace attached to fb.
// networks are the prefixes it originates; it peers eBGP with the host
// (AS testASN).
func (fb *fabric) startFRR(t *testing.T, name string, asn uint32, networks ...string) *frr {
	t.Helper()
	_, ns := nstest.New(t, "vxt")
	fb.n++
	f := &frr{name: name, ns: ns, asn: asn, host: fb.host,
		addr: netip.AddrFrom4([4]byte{fb.base.As4()[0], fb.base.As4()[1], fb.base.As4()[2], byte(10 + fb.n)})}
	port := fmt.Sprintf("t%d", fb.n)
	nstest.IP(t, ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", fb.ns)
	nstest.IP(t, fb.ns, "link", "set", port, "master", "br0", "up")
	nstest.IP(t, ns, "addr", "add", f.addr.String()+"/24", "dev", "eth0")
	nstest.IP(t, ns, "link", "set", "eth0", "up")

	// The daemons drop to user frr: the directory must be theirs, and
	// reachable (t.TempDir's parents are not).
	dir, err := os.MkdirTemp("", "vxbgp-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname %s\nlog file %s/bgpd.log informational\n!\n", name, dir)
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp default ipv4-unicast\n", asn, f.addr)
	b.WriteString(" no bgp ebgp-requires-policy\n no bgp network import-check\n")
	fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %[1]s timers 3 9\n neighbor %[1]s timers connect 1\n", f.host, testASN)
	b.WriteString(" !\n address-family ipv4 unicast\n")
	for _, n := range networks {
		fmt.Fprintf(&b, "  network %s\n", n)
	}
	fmt.Fprintf(&b, "  neighbor %s activate\n exit-address-family\n!\n", f.host)
	files := map[string]string{
		"zebra.conf": fmt.Sprintf("hostname %s\nlog file %s/zebra.log informational\n", name, dir),
		"bgpd.conf":  b.String(),
	}
	for n, text := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	chownFRR(t, dir)
	for _, d := range []string{"zebra", "bgpd"} {
		pidFile := filepath.Join(dir, d+".pid")
		// -d forks and returns once the daemon runs; it is no child of
		// ours, so its PID comes from the pid file.
		nstest.Run(t, "ip", "netns", "exec", ns, filepath.Join(frrDir, d), "-d", "-A", "127.0.0.1", "-P", "0",
			"-f", filepath.Join(dir, d+".conf"), "-i", pidFile, "-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir)
		var pid int
		bgptest.WaitFor(t, name+" "+d+" pid file", 10*time.Second, func() bool {
			b, err := os.ReadFile(pidFile)
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil && pid > 0
		})
		// Registered after the namespace's removal, so it runs before it.
		t.Cleanup(func() { stopPID(t, pid, dir) })
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range []string{"bgpd.log", "zebra.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, l))
				t.Logf("%s %s:\n%s", name, l, b)
			}
		}
	})
	return f
}

func chownFRR(t *testing.T, dir string) {
	t.Helper()
	u, err := user.Lookup("frr")
	if err != nil {
		t.Fatalf("look up user frr: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// stopPID ends a daemon we started, by its PID, after checking that the
// PID still runs something with our directory on its command line.
func stopPID(t *testing.T, pid int, dir string) {
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmd, []byte(dir)) {
		return // gone (or reused)
	}
	alive := func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		_, rest, _ := strings.Cut(string(st), ") ")
		return !strings.HasPrefix(rest, "Z")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill %d: %v", pid, err)
			return
		}
		deadline := time.Now().Add(10 * time.Second)
		for alive() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !alive() {
			return
		}
	}
	t.Errorf("pid %d survived SIGKILL", pid)
}

func (f *frr) vtysh(t *testing.T, cmd string, v any) {
	t.Helper()
	out, err := exec.Command("vtysh", "--vty_socket", f.dir, "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: vtysh %q: %v\n%s", f.name, cmd, err, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%s: vtysh %q: %v\n%s", f.name, cmd, err, out)
	}
}

// learned returns the prefixes FRR holds from the host, with their AS paths.
func (f *frr) learned(t *testing.T) []string {
	t.Helper()
	var rib struct {
		Routes map[string][]struct {
			PeerID string `json:"peerId"`
			Path   string `json:"path"`
		} `json:"routes"`
	}
	f.vtysh(t, "show bgp ipv4 unicast json", &rib)
	var out []string
	for pfx, paths := range rib.Routes {
		for _, p := range paths {
			if p.PeerID == f.host.String() {
				out = append(out, pfx+" "+p.Path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Two FRR top-of-rack routers in their own ASes in front of a routed-mode
// host (eBGP, one shared segment): the host installs the prefixes both
// announce inside the allowed ranges as multipath routes, the default
// route (importPrefixes) too, nothing outside the ranges; each FRR learns
// the host's block and nothing else (in particular nothing the host
// learned from the other).
func TestFRRTopOfRack(t *testing.T) {
	fb := newFabric(t)
	f1 := fb.startFRR(t, "tor1", 65101, "0.0.0.0/0", "10.244.77.0/24", "192.168.99.0/24", "10.244.88.0/24", "10.0.0.0/8")
	f2 := fb.startFRR(t, "tor2", 65102, "0.0.0.0/0", "10.244.77.0/24")

	p := netip.MustParsePrefix
	c := Config{
		Blocks:         []netip.Prefix{p("10.244.1.0/24")},
		NextHop4:       fb.host,
		Subnets:        []netip.Prefix{subnet4},
		ImportPrefixes: []netip.Prefix{p("0.0.0.0/0")},
		SyncTimeout:    time.Minute,
	}
	// No listener: the host dials both routers (FRR's own dials are refused).
	sp := bgptest.Start(t, "H", "", bgp.Config{ASN: testASN, RouterID: "10.0.0.161", ListenPort: -1,
		ImportUnicast: c.Subnets, ImportExact: c.ImportPrefixes})
	h := hostOn(t, sp, c).run(t)
	var peers []bgp.PeerConfig
	for _, f := range []*frr{f1, f2} {
		peers = append(peers, bgp.PeerConfig{Address: f.addr.String(), ASN: f.asn, LocalAddress: fb.host.String(),
			Families: []string{bgp.FamilyIPv4}})
	}
	if err := sp.SetPeers(context.Background(), peers); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a1, a2 := f1.addr.String(), f2.addr.String()
	waitRoutes(t, h, "routes from two FRR routers",
		"0.0.0.0/0 "+a1+","+a2, "10.244.77.0/24 "+a1+","+a2, "10.244.88.0/24 "+a1)
	t.Logf("ECMP routes from FRR %v after the peers were configured", time.Since(start).Round(time.Millisecond))
	select {
	case <-h.src.Synced():
	case <-time.After(sessionTimeout):
		t.Fatal("Synced did not close after FRR's End-of-RIBs")
	}

	// The host now holds both routers' full tables. A marker block added
	// now reaches each router after anything the host queued for it
	// before (GoBGP sends to a peer in order): once the marker is there,
	// what the router learned from us is complete.
	if err := sp.AddUnicast(context.Background(), p("10.244.3.0/24"), fb.host); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.244.1.0/24 64512", "10.244.3.0/24 64512"}
	for _, f := range []*frr{f1, f2} {
		bgptest.WaitFor(t, f.name+" learns the marker", sessionTimeout, func() bool { return slices.Contains(f.learned(t), want[1]) })
		if got := f.learned(t); !slices.Equal(got, want) {
			t.Fatalf("%s learned %q from the host, want %q only", f.name, got, want)
		}
	}

	// tor1 withdraws its default route: a single path via tor2.
	f1.config(t, "router bgp 65101", "address-family ipv4 unicast", "no network 0.0.0.0/0")
	waitRoutes(t, h, "after tor1 withdrew its default route",
		"0.0.0.0/0 "+a2, "10.244.77.0/24 "+a1+","+a2, "10.244.88.0/24 "+a1)
}

// config runs configuration commands on f.
func (f *frr) config(t *testing.T, cmds ...string) {
	t.Helper()
	args := []string{"--vty_socket", f.dir, "-c", "configure terminal"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	if out, err := exec.Command("vtysh", args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: vtysh %q: %v\n%s", f.name, cmds, err, out)
	}
}
