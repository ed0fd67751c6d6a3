package netlinkdp_test

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

func route(dst string, via ...string) overlay.Route {
	var vs []netip.Addr
	for _, v := range via {
		vs = append(vs, netip.MustParseAddr(v))
	}
	return overlay.NewRoute(netip.MustParsePrefix(dst), vs...)
}

// routedState is network 100 in routed mode with proxy ARP, and its
// routes: one remote block via one host, one over two paths, and an IPv6
// one over two.
func routedState() overlay.State {
	s := overlay.NewState()
	d := overlaytest.ContractRoutedDevice(100)
	d.Gateway6 = netip.MustParsePrefix("fd00:100::1/64")
	s.AddDevice(d)
	s.AddRoute(route("10.100.2.0/24", "10.99.0.2"))
	s.AddRoute(route("10.100.3.0/24", "10.99.0.3", "10.99.0.4"))
	s.AddRoute(route("fd00:100:3::/64", "fd99::3", "fd99::2"))
	return s
}

// sysctl returns `sysctl -n key` run in the namespace ns.
func sysctl(t *testing.T, ns, key string) string {
	t.Helper()
	return strings.TrimSpace(nstest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-n", key))
}

// TestKernelRouted proves with iproute2 and sysctl that routed mode is the
// lab prototype's: the bridge alone, with proxy ARP at once and
// forwarding, and one route per remote block via the remote host, tagged
// with our protocol, ECMP where two hosts offer a block.
func TestKernelRouted(t *testing.T) {
	dp, _, ns := newDP(t)
	applyState(t, dp, routedState())

	wantLines(t, "ip route show proto 201", nstest.IP(t, ns, "route", "show", "proto", "201"),
		"10.100.2.0/24 via 10.99.0.2 dev vxul0 metric 20",
		"10.100.3.0/24 metric 20",
		"nexthop via 10.99.0.3 dev vxul0 weight 1",
		"nexthop via 10.99.0.4 dev vxul0 weight 1",
	)
	wantLines(t, "ip -6 route show proto 201", nstest.IP(t, ns, "-6", "route", "show", "proto", "201"),
		"fd00:100:3::/64 metric 20 pref medium",
		"nexthop via fd99::2 dev vxul0 weight 1",
		"nexthop via fd99::3 dev vxul0 weight 1",
	)
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":                "1",
		"net.ipv4.conf.vxbr100.forwarding":   "1",
		"net.ipv4.conf.vxbr100.proxy_arp":    "1",
		"net.ipv4.neigh.vxbr100.proxy_delay": "0",
	} {
		if got := sysctl(t, ns, key); got != want {
			t.Errorf("sysctl %s = %s, want %s", key, got, want)
		}
	}
	// Written in the Dataplane's namespace, not in the test's.
	if _, err := os.Stat("/proc/sys/net/ipv4/conf/vxbr100"); err == nil {
		t.Errorf("the test's own namespace has a vxbr100: the sysctls went to the wrong namespace?")
	}
	links := nstest.IP(t, ns, "-d", "link", "show")
	if strings.Contains(links, "vxlan") {
		t.Errorf("a vxlan device exists in routed mode:\n%s", links)
	}
	wantWords(t, "ip -d link show vxbr100", nstest.IP(t, ns, "-d", "link", "show", "dev", "vxbr100"),
		"mtu 1450 ", ",UP", "link/ether 02:76:78:62:67:01 ", "\n    bridge ", "alias vxbgp:net100")
	wantWords(t, "ip addr show", nstest.IP(t, ns, "addr", "show", "dev", "vxbr100"),
		"inet 10.100.0.1/16 brd 10.100.255.255 scope global vxbr100",
		"inet6 fd00:100::1/64 scope global nodad")

	// Proxy ARP off: proxy_arp goes, forwarding (the host's) stays.
	d := routedState().Devices[100]
	d.ProxyARP = false
	if err := dp.Apply(context.Background(), overlay.Op{Kind: overlay.OpSet, Device: &d}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":              "1",
		"net.ipv4.conf.vxbr100.forwarding": "1",
		"net.ipv4.conf.vxbr100.proxy_arp":  "0",
	} {
		if got := sysctl(t, ns, key); got != want {
			t.Errorf("after proxy arp off: sysctl %s = %s, want %s", key, got, want)
		}
	}
}

// TestForeignRoutes checks that Observe sees only routes of our protocol
// and metric in the main table, and that replacing and deleting ours
// leaves every other route alone, even one to the same prefix.
func TestForeignRoutes(t *testing.T) {
	dp, _, ns := newDP(t)
	// Protocols by number: where FRR is installed, iproute2 calls both 4
	// and 196 "static" (/etc/iproute2/rt_protos.d/frr.conf).
	nstest.IP(t, ns, "route", "add", "default", "via", "10.99.0.4")                      // the host's own
	nstest.IP(t, ns, "route", "add", "10.100.2.0/24", "via", "10.99.0.3", "proto", "4")  // static, same prefix as ours
	nstest.IP(t, ns, "route", "add", "10.60.0.0/24", "via", "10.99.0.2", "proto", "12")  // bird
	nstest.IP(t, ns, "route", "add", "10.61.0.0/24", "via", "10.99.0.2", "proto", "201") // our tag, not our metric
	nstest.IP(t, ns, "route", "add", "10.62.0.0/24", "via", "10.99.0.2", "proto", "201", "table", "100")
	nstest.IP(t, ns, "-6", "route", "add", "fd60::/64", "via", "fd99::2", "proto", "186") // bgp
	foreign := func() (string, string) {
		return nstest.IP(t, ns, "-N", "route", "show", "table", "all"), nstest.IP(t, ns, "-N", "-6", "route", "show", "table", "all")
	}
	v4, v6 := foreign()
	if got := observe(t, dp); got.Len() != 0 {
		t.Fatalf("observe sees foreign routes:\n%s", got)
	}

	want := routedState()
	want.AddRoute(route("0.0.0.0/0", "10.99.0.2")) // as a fabric may offer
	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.MarkSynced()
	r.Set(want.Clone())
	if err := r.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if got := observe(t, dp); got.String() != want.String() {
		t.Fatalf("observe\n--- got:\n%s\n--- want:\n%s", got, want)
	}
	wantLines(t, "ip -N route show", nstest.IP(t, ns, "-N", "route", "show"),
		"default via 10.99.0.4 dev vxul0",
		"default via 10.99.0.2 dev vxul0 proto 201 metric 20",
		"10.100.2.0/24 via 10.99.0.3 dev vxul0 proto 4",
		"10.100.2.0/24 via 10.99.0.2 dev vxul0 proto 201 metric 20",
	)

	r.Set(overlay.NewState())
	if err := r.Sync(context.Background()); err != nil {
		t.Fatalf("sync to empty: %v", err)
	}
	if got := observe(t, dp); got.Len() != 0 {
		t.Fatalf("ours left behind:\n%s", got)
	}
	if a, b := foreign(); a != v4 || b != v6 {
		t.Errorf("foreign routes changed\n--- before:\n%s%s\n--- after:\n%s%s", v4, v6, a, b)
	}
}

// addPod creates a pod namespace whose eth0 is a port of the bridge in
// the host namespace hostNS, with addr (address/prefix length) on it, and
// returns the pod namespace's name.
func addPod(t *testing.T, hostNS, bridge, port, addr string) string {
	t.Helper()
	_, pod := nstest.New(t, "vxpod")
	nstest.IP(t, hostNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", pod)
	nstest.IP(t, hostNS, "link", "set", port, "master", bridge, "up")
	nstest.IP(t, pod, "addr", "add", addr, "dev", "eth0")
	nstest.IP(t, pod, "link", "set", "eth0", "up")
	return pod
}

// TestKernelSwitchModes switches a network with a pod from overlay to
// routed mode and back: the vxlan device goes with its FDB and comes back;
// the bridge, its gateway, its neighbours and the pod's port stay.
func TestKernelSwitchModes(t *testing.T) {
	dp, _, ns := newDP(t)
	overlayState := kernelState()
	overlayState.AddNeigh(overlay.Neigh{VNI: 100, IP: netip.MustParseAddr("fd00:100::2:2"), MAC: overlay.MustParseMAC("02:00:00:00:02:01")})
	applyState(t, dp, overlayState)
	addPod(t, ns, "vxbr100", "vxp1", "10.100.1.2/16")
	bridgeIndex := strings.Fields(nstest.IP(t, ns, "-o", "link", "show", "dev", "vxbr100"))[0]

	r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
	r.MarkSynced()
	routed := overlayState.Clone()
	routed.AddDevice(overlaytest.ContractRoutedDevice(100))
	delete(routed.FDB, overlay.FDBKey{VNI: 100, MAC: overlay.MustParseMAC("02:00:00:00:02:01")})
	delete(routed.Flood, overlay.Flood{VNI: 100, VTEP: netip.MustParseAddr("10.99.0.2")})
	routed.AddRoute(route("10.100.2.0/24", "10.99.0.2"))
	for _, step := range []struct {
		name string
		want overlay.State
	}{
		{"overlay to routed", routed},
		{"routed to overlay", overlayState},
		{"overlay to routed again", routed},
	} {
		r.Set(step.want.Clone())
		if err := r.Sync(context.Background()); err != nil {
			t.Fatalf("%s: sync: %v", step.name, err)
		}
		if got := observe(t, dp); got.String() != step.want.String() {
			t.Fatalf("%s: observe\n--- got:\n%s\n--- want:\n%s", step.name, got, step.want)
		}
		wantWords(t, step.name+": pod port", nstest.IP(t, ns, "-d", "link", "show", "dev", "vxp1"), "master vxbr100 ", ",UP,")
		wantWords(t, step.name+": gateway", nstest.IP(t, ns, "addr", "show", "dev", "vxbr100"), "inet 10.100.0.1/16 ")
		wantLines(t, step.name+": neighbours", nstest.IP(t, ns, "neigh", "show", "dev", "vxbr100"),
			"10.100.2.2 lladdr 02:00:00:00:02:01 extern_learn NOARP")
		if idx := strings.Fields(nstest.IP(t, ns, "-o", "link", "show", "dev", "vxbr100"))[0]; idx != bridgeIndex {
			t.Errorf("%s: the bridge was recreated (ifindex %s, was %s)", step.name, idx, bridgeIndex)
		}
		links := nstest.IP(t, ns, "-o", "link", "show")
		fdb := nstest.Run(t, "bridge", "-n", ns, "fdb", "show", "br", "vxbr100")
		if step.want.Devices[100].Routed() {
			if strings.Contains(links, "vxlan100") {
				t.Errorf("%s: vxlan100 still exists:\n%s", step.name, links)
			}
			if strings.Contains(fdb, " dst ") || strings.Contains(fdb, "02:00:00:00:02:01") {
				t.Errorf("%s: FDB entries of the tunnel left:\n%s", step.name, fdb)
			}
			wantLines(t, step.name+": routes", nstest.IP(t, ns, "route", "show", "proto", "201"),
				"10.100.2.0/24 via 10.99.0.2 dev vxul0 metric 20")
		} else {
			wantWords(t, step.name+": vxlan", nstest.IP(t, ns, "-d", "link", "show", "dev", "vxlan100"),
				"master vxbr100 ", "vxlan id 100 ", " neigh_suppress on ")
			wantLines(t, step.name+": fdb", nstest.Run(t, "bridge", "-n", ns, "fdb", "show", "dev", "vxlan100"),
				"02:00:00:00:02:01 dst 10.99.0.2 self extern_learn",
				"00:00:00:00:00:00 dst 10.99.0.2 self permanent")
			if out := nstest.IP(t, ns, "route", "show", "proto", "201"); strings.TrimSpace(out) != "" {
				t.Errorf("%s: routes left:\n%s", step.name, out)
			}
			if got := sysctl(t, ns, "net.ipv4.conf.vxbr100.proxy_arp"); got != "0" {
				t.Errorf("%s: proxy_arp = %s", step.name, got)
			}
		}
	}
}

// TestRoutedDriftRepaired changes routed mode's objects behind the
// agent's back and checks that Observe notices and one pass repairs it.
func TestRoutedDriftRepaired(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drift [][]string // commands; NS is replaced by the namespace
	}{
		{"bridge down", [][]string{{"ip", "-n", "NS", "link", "set", "vxbr100", "down"}}},
		{"proxy_arp off", [][]string{{"ip", "netns", "exec", "NS", "sysctl", "-qw", "net.ipv4.conf.vxbr100.proxy_arp=0"}}},
		{"proxy_delay back", [][]string{{"ip", "netns", "exec", "NS", "sysctl", "-qw", "net.ipv4.neigh.vxbr100.proxy_delay=80"}}},
		{"forwarding off", [][]string{{"ip", "netns", "exec", "NS", "sysctl", "-qw", "net.ipv4.ip_forward=0"}}},
		{"gateway gone", [][]string{{"ip", "-n", "NS", "addr", "flush", "dev", "vxbr100"}}},
		{"route deleted", [][]string{{"ip", "-n", "NS", "route", "del", "10.100.2.0/24", "proto", "201"}}},
		{"route changed", [][]string{{"ip", "-n", "NS", "route", "replace", "10.100.3.0/24", "via", "10.99.0.2", "proto", "201", "metric", "20"}}},
		{"ipv6 path lost", [][]string{{"ip", "-n", "NS", "-6", "route", "del", "fd00:100:3::/64", "via", "fd99::2", "proto", "201", "metric", "20"}}},
		{"stray route of ours", [][]string{{"ip", "-n", "NS", "route", "add", "10.100.9.0/24", "via", "10.99.0.2", "proto", "201", "metric", "20"}}},
		{"stray blackhole of ours", [][]string{{"ip", "-n", "NS", "route", "add", "blackhole", "10.100.8.0/24", "proto", "201", "metric", "20"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp, _, ns := newDP(t)
			want := routedState()
			r := overlay.NewReconciler(dp, overlay.ReconcilerOptions{})
			r.Set(want.Clone())
			r.MarkSynced()
			if err := r.Sync(context.Background()); err != nil {
				t.Fatalf("sync: %v", err)
			}
			for _, c := range tc.drift {
				args := append([]string(nil), c[1:]...)
				for i := range args {
					if args[i] == "NS" {
						args[i] = ns
					}
				}
				nstest.Run(t, c[0], args...)
			}
			if got := observe(t, dp); got.Equal(want) {
				t.Fatalf("observe did not notice the drift:\n%s", got)
			}
			r.Kick()
			if err := r.Sync(context.Background()); err != nil {
				t.Fatalf("repair: %v", err)
			}
			if got := observe(t, dp); got.String() != want.String() {
				t.Fatalf("not repaired\n--- got:\n%s\n--- want:\n%s", got, want)
			}
		})
	}
}
