package plugin

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/ipam"
)

// dualStackEnv is newTestEnv with the network made dual-stack: the bridge
// holds both anycast gateways, and the pod's netns starts with IPv6
// disabled for new interfaces, as some runtimes create it.
func dualStackEnv(t *testing.T) *testEnv {
	e := newTestEnv(t)
	e.net.Pools = append(e.net.Pools, ipam.Pool{
		Subnet:  netip.MustParsePrefix("fd00:10:244::/48"),
		Block:   netip.MustParsePrefix("fd00:10:244:1::/64"),
		Gateway: netip.MustParseAddr("fd00:10:244::1"),
	})
	if err := ipam.WriteNetworks(e.stateDir, []ipam.NetworkInfo{e.net}); err != nil {
		t.Fatal(err)
	}
	nstest.IP(t, e.host, "addr", "add", "fd00:10:244::1/48", "dev", e.net.Bridge, "nodad")
	nstest.Run(t, "ip", "netns", "exec", e.pod, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	return e
}

// TestDualStack: ADD gives the pod an IPv4 and an IPv6 address with a
// default route each, enables IPv6 in the pod, returns and announces both
// addresses; CHECK verifies both; DEL releases both.
func TestDualStack(t *testing.T) {
	e := dualStackEnv(t)
	conf := e.conf("1.1.0", nil)
	r := pluginRun{cmd: "ADD", containerID: "ds1", netns: e.podPath, conf: conf}
	out := e.mustRun(t, r)
	res, err := types100.NewResultFromResult(mustResult(t, "1.1.0", out))
	if err != nil {
		t.Fatal(err)
	}
	var ips, routes []string
	for _, c := range res.IPs {
		ips = append(ips, c.Address.String()+" gw "+c.Gateway.String())
		if c.Interface == nil || *c.Interface != 1 {
			t.Errorf("result IP %s not on the pod interface", c.Address.String())
		}
	}
	for _, rt := range res.Routes {
		routes = append(routes, rt.Dst.String()+" via "+rt.GW.String())
	}
	if want := []string{"10.244.1.1/16 gw 10.244.0.1", "fd00:10:244:1::1/48 gw fd00:10:244::1"}; !slices.Equal(ips, want) {
		t.Errorf("result IPs %q, want %q", ips, want)
	}
	if want := []string{"0.0.0.0/0 via 10.244.0.1", "::/0 via fd00:10:244::1"}; !slices.Equal(routes, want) {
		t.Errorf("result routes %q, want %q", routes, want)
	}

	// The kernel: IPv6 on, the address without DAD (never tentative), the
	// IPv6 default route; both gateways answer.
	if got := nstest.Run(t, "ip", "netns", "exec", e.pod, "sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6"); strings.TrimSpace(got) != "0" {
		t.Errorf("pod eth0 disable_ipv6 = %q", got)
	}
	if got := nstest.IP(t, e.pod, "-6", "addr", "show", "dev", "eth0", "scope", "global"); !strings.Contains(got, "inet6 fd00:10:244:1::1/48") || strings.Contains(got, "tentative") {
		t.Errorf("pod IPv6 address: %q", got)
	}
	if got := nstest.IP(t, e.pod, "-6", "route", "show", "default"); !strings.Contains(got, "default via fd00:10:244::1 dev eth0") {
		t.Errorf("pod IPv6 default route: %q", got)
	}
	ping(t, e.pod, "10.244.0.1")
	nstest.Run(t, "ip", "netns", "exec", e.pod, "ping", "-6", "-c", "1", "-W", "5", "fd00:10:244::1")

	// The agent heard of both addresses.
	reqs := e.agent.take()
	if len(reqs) != 1 || !slices.Equal(reqs[0].Endpoint.IPs, []string{"10.244.1.1", "fd00:10:244:1::1"}) {
		t.Errorf("agent requests %+v, want one PUT with both IPs", reqs)
	}
	rec, ok, err := e.store(t).Get("ds1", "eth0")
	if err != nil || !ok || !slices.Equal(rec.IPs, []netip.Addr{netip.MustParseAddr("10.244.1.1"), netip.MustParseAddr("fd00:10:244:1::1")}) || rec.MAC.IsZero() {
		t.Errorf("store record %+v %v %v", rec, ok, err)
	}

	r.cmd = "CHECK"
	e.mustRun(t, r)
	// A repeated ADD for the same attachment keeps both addresses.
	r.cmd = "ADD"
	e.mustRun(t, r)
	if again, _, _ := e.store(t).Get("ds1", "eth0"); !slices.Equal(again.IPs, rec.IPs) {
		t.Errorf("after a repeated ADD the record is %+v, was %+v", again, rec)
	}

	// CHECK names a missing IPv6 default route, then a missing address.
	nstest.IP(t, e.pod, "-6", "route", "del", "default", "via", "fd00:10:244::1", "dev", "eth0")
	r.cmd = "CHECK"
	if _, cniErr := e.run(t, r); cniErr == nil || !strings.Contains(cniErr.Error(), "default route via fd00:10:244::1 missing on eth0") {
		t.Errorf("CHECK without the IPv6 default route: %v", cniErr)
	}
	nstest.IP(t, e.pod, "-6", "addr", "del", "fd00:10:244:1::1/48", "dev", "eth0")
	r.cmd = "CHECK"
	_, cniErr := e.run(t, r)
	if cniErr == nil || !strings.Contains(cniErr.Error(), "address fd00:10:244:1::1/48 missing on eth0") {
		t.Errorf("CHECK without the IPv6 address: %v", cniErr)
	}

	r.cmd = "DEL"
	e.mustRun(t, r)
	e.mustRun(t, r) // repeatable
	for _, f := range []string{"10.244.1.1", "fd00:10:244:1::1"} {
		if _, err := os.Stat(filepath.Join(e.stateDir, "ipam", "pods", f)); !os.IsNotExist(err) {
			t.Errorf("%s still allocated after DEL: %v", f, err)
		}
	}
	if v := e.hostVeths(t); len(v) != 0 {
		t.Errorf("host veths left: %v", v)
	}
}

// TestDualStackTwoPods: two dual-stack pods on one bridge reach each
// other over IPv6 too, and get different IPv6 addresses.
func TestDualStackTwoPods(t *testing.T) {
	e := dualStackEnv(t)
	_, pod2 := nstest.New(t, "vxcq")
	conf := e.conf("1.1.0", nil)
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "dsa", netns: e.podPath, conf: conf})
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "dsb", netns: "/var/run/netns/" + pod2, conf: conf})
	nstest.Run(t, "ip", "netns", "exec", e.pod, "ping", "-6", "-c", "1", "-W", "5", "fd00:10:244:1::2")
	nstest.Run(t, "ip", "netns", "exec", pod2, "ping", "-6", "-c", "1", "-W", "5", "fd00:10:244:1::1")
	for _, c := range []struct{ id, ns string }{{"dsa", e.podPath}, {"dsb", "/var/run/netns/" + pod2}} {
		e.mustRun(t, pluginRun{cmd: "DEL", containerID: c.id, netns: c.ns, conf: conf})
	}
}

// TestIPv4OnlyNoIPv6: a pod of an IPv4-only network comes up with IPv6
// off on its interface, even in a netns that has it on for new ones: no
// link-local address, so none of the router solicitations, MLD reports
// and DAD probes the bridge would flood to every host. DEL still cleans
// up.
func TestIPv4OnlyNoIPv6(t *testing.T) {
	e := newTestEnv(t)
	nstest.Run(t, "ip", "netns", "exec", e.pod, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=0", "net.ipv6.conf.all.disable_ipv6=0")
	conf := e.conf("1.1.0", nil)
	r := pluginRun{cmd: "ADD", containerID: "v4only", netns: e.podPath, conf: conf}
	e.mustRun(t, r)
	if got := nstest.Run(t, "ip", "netns", "exec", e.pod, "sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6"); strings.TrimSpace(got) != "1" {
		t.Errorf("pod eth0 disable_ipv6 = %q, want 1", got)
	}
	if got := nstest.IP(t, e.pod, "-6", "addr", "show", "dev", "eth0"); strings.TrimSpace(got) != "" {
		t.Errorf("pod eth0 has IPv6 addresses: %q", got)
	}
	// The namespace's other interfaces keep IPv6 (lo's ::1).
	if got := nstest.Run(t, "ip", "netns", "exec", e.pod, "sysctl", "-n", "net.ipv6.conf.lo.disable_ipv6"); strings.TrimSpace(got) != "0" {
		t.Errorf("pod lo disable_ipv6 = %q, want 0", got)
	}
	ping(t, e.pod, "10.244.0.1")
	r.cmd = "CHECK"
	e.mustRun(t, r)
	r.cmd = "DEL"
	e.mustRun(t, r)
}
