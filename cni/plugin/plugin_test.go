package plugin

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/ipam"
)

// TestRoundTrip runs ADD, CHECK, DEL, DEL through the binary for every
// supported CNI version and checks the result, the kernel, the store and
// what the agent was told.
func TestRoundTrip(t *testing.T) {
	for _, ver := range Versions().SupportedVersions() {
		t.Run(ver, func(t *testing.T) {
			e := newTestEnv(t)
			cid := "ctr-" + strings.ReplaceAll(ver, ".", "")
			hostIf := HostVethName(cid, "eth0")
			conf := e.conf(ver, nil)

			out := e.mustRun(t, pluginRun{cmd: "ADD", containerID: cid, netns: e.podPath, conf: conf})

			// The result is in the requested version and says what was made.
			var head struct {
				CNIVersion string `json:"cniVersion"`
			}
			if err := json.Unmarshal(out, &head); err != nil || head.CNIVersion != ver {
				t.Fatalf("result cniVersion = %q (%v), want %q: %s", head.CNIVersion, err, ver, out)
			}
			res, err := types100.NewResultFromResult(mustResult(t, ver, out))
			if err != nil {
				t.Fatal(err)
			}
			hostLink, err := e.hostH.LinkByName(hostIf)
			if err != nil {
				t.Fatalf("host veth: %v", err)
			}
			podLink, err := e.podH.LinkByName("eth0")
			if err != nil {
				t.Fatalf("pod eth0: %v", err)
			}
			hostMAC, podMAC := hostLink.Attrs().HardwareAddr.String(), podLink.Attrs().HardwareAddr.String()
			one := 1
			want := &types100.Result{
				CNIVersion: types100.ImplementedSpecVersion,
				Interfaces: []*types100.Interface{{Name: hostIf, Mac: hostMAC}, {Name: "eth0", Mac: podMAC, Sandbox: e.podPath}},
				IPs: []*types100.IPConfig{{
					Interface: &one,
					Address:   net.IPNet{IP: net.ParseIP("10.244.1.1").To4(), Mask: net.CIDRMask(16, 32)},
					Gateway:   net.ParseIP("10.244.0.1").To4(),
				}},
				Routes: []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: net.ParseIP("10.244.0.1").To4()}},
			}
			if got, w := resultString(res), resultString(want); got != w {
				t.Errorf("result\n got %s\nwant %s", got, w)
			}

			// The kernel.
			br, err := e.hostH.LinkByName(e.net.Bridge)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []netlink.Link{hostLink, podLink} {
				if l.Attrs().MTU != 1400 {
					t.Errorf("%s mtu = %d, want the network's 1400", l.Attrs().Name, l.Attrs().MTU)
				}
				if l.Attrs().Flags&net.FlagUp == 0 {
					t.Errorf("%s is down", l.Attrs().Name)
				}
			}
			if hostLink.Attrs().MasterIndex != br.Attrs().Index {
				t.Errorf("host veth master = %d, want the bridge %d", hostLink.Attrs().MasterIndex, br.Attrs().Index)
			}
			if got := nstest.IP(t, e.pod, "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(got, "inet 10.244.1.1/16 ") {
				t.Errorf("pod address: %s", got)
			}
			if got := nstest.IP(t, e.pod, "route", "show", "default"); !strings.Contains(got, "default via 10.244.0.1 dev eth0") {
				t.Errorf("pod default route: %q", got)
			}
			ping(t, e.pod, "10.244.0.1")

			// The store and the agent.
			rec, ok, err := e.store(t).Get(cid, "eth0")
			if err != nil || !ok {
				t.Fatalf("store record: %v %v", ok, err)
			}
			wantEP := localapi.Endpoint{ContainerID: cid, IfName: "eth0", Network: "pods", HostIf: hostIf, MAC: podMAC, IPs: []string{"10.244.1.1"}, Netns: e.podPath}
			if got := localapi.FromEndpoint(rec.Endpoint()); !reflect.DeepEqual(got, wantEP) {
				t.Errorf("store endpoint = %+v, want %+v", got, wantEP)
			}
			if got := e.agent.take(); !reflect.DeepEqual(got, []agentRequest{{Method: "PUT", Endpoint: wantEP}}) {
				t.Errorf("agent got %+v, want one PUT of %+v", got, wantEP)
			}

			// CHECK, with the ADD result as prevResult as runtimes pass it.
			var prev map[string]any
			if err := json.Unmarshal(out, &prev); err != nil {
				t.Fatal(err)
			}
			_, cniErr := e.run(t, pluginRun{cmd: "CHECK", containerID: cid, netns: e.podPath, conf: e.conf(ver, map[string]any{"prevResult": prev})})
			if ok, _ := version.GreaterThanOrEqualTo(ver, "0.4.0"); ok {
				if cniErr != nil {
					t.Errorf("CHECK: %v", cniErr)
				}
			} else if cniErr == nil || cniErr.Code != types.ErrIncompatibleCNIVersion {
				t.Errorf("CHECK with %s = %v, want code 1 (CHECK is 0.4.0+)", ver, cniErr)
			}

			// DEL, twice.
			for i := range 2 {
				e.mustRun(t, pluginRun{cmd: "DEL", containerID: cid, netns: e.podPath, conf: conf})
				if _, err := e.hostH.LinkByName(hostIf); !isNotFound(err) {
					t.Errorf("DEL #%d: host veth still there (%v)", i, err)
				}
				if _, err := e.podH.LinkByName("eth0"); !isNotFound(err) {
					t.Errorf("DEL #%d: pod eth0 still there (%v)", i, err)
				}
				if _, ok, err := e.store(t).Get(cid, "eth0"); ok || err != nil {
					t.Errorf("DEL #%d: still allocated (%v)", i, err)
				}
				q := url.Values{"containerID": {cid}, "ifName": {"eth0"}}.Encode()
				if got := e.agent.take(); !reflect.DeepEqual(got, []agentRequest{{Method: "DELETE", Query: q}}) {
					t.Errorf("DEL #%d: agent got %+v, want one DELETE ?%s", i, got, q)
				}
			}
		})
	}
}

// resultString prints a result for comparison (pointers hide values in %+v).
func resultString(r *types100.Result) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// TestCheckDetectsDamage: CHECK passes on a fresh attachment and fails,
// naming the problem, once something is broken by hand.
func TestCheckDetectsDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, e *testEnv, hostIf string)
		want   string
	}{
		{"address removed", func(t *testing.T, e *testEnv, _ string) {
			nstest.IP(t, e.pod, "addr", "del", "10.244.1.1/16", "dev", "eth0")
		}, "address 10.244.1.1/16 missing on eth0"},
		{"default route removed", func(t *testing.T, e *testEnv, _ string) {
			nstest.IP(t, e.pod, "route", "del", "default")
		}, "default route via 10.244.0.1 missing on eth0"},
		{"pod interface down", func(t *testing.T, e *testEnv, _ string) {
			nstest.IP(t, e.pod, "link", "set", "eth0", "down")
		}, "interface eth0 is down"},
		{"host veth off the bridge", func(t *testing.T, e *testEnv, hostIf string) {
			nstest.IP(t, e.host, "link", "set", hostIf, "nomaster")
		}, "is not attached to bridge vxbr100"},
		{"host veth down", func(t *testing.T, e *testEnv, hostIf string) {
			nstest.IP(t, e.host, "link", "set", hostIf, "down")
		}, "host veth " + HostVethName("c1", "eth0") + " is down"},
		{"veth deleted", func(t *testing.T, e *testEnv, hostIf string) {
			nstest.IP(t, e.host, "link", "del", hostIf)
		}, "interface eth0 missing in netns"},
		{"address released", func(t *testing.T, e *testEnv, _ string) {
			if err := e.store(t).Release("c1", "eth0"); err != nil {
				t.Fatal(err)
			}
		}, "no address allocated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			conf := e.conf("1.1.0", nil)
			r := pluginRun{containerID: "c1", netns: e.podPath, conf: conf}
			r.cmd = "ADD"
			e.mustRun(t, r)
			r.cmd = "CHECK"
			e.mustRun(t, r)
			tt.damage(t, e, HostVethName("c1", "eth0"))
			_, cniErr := e.run(t, r)
			if cniErr == nil {
				t.Fatal("CHECK passed after the damage")
			}
			if !strings.Contains(cniErr.Msg, tt.want) {
				t.Errorf("CHECK error %q does not name %q", cniErr.Msg, tt.want)
			}
		})
	}
}

// TestConfigErrors: a bad config fails with the right code, names the
// key, and leaves nothing behind.
func TestConfigErrors(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name string
		conf string
		code uint
		want []string // in the message
	}{
		{"mtu of the wrong type", e.conf("1.0.0", map[string]any{"mtu": "big"}), 7, []string{`"mtu"`}},
		{"mtu too small", e.conf("1.0.0", map[string]any{"mtu": 10}), 7, []string{`"mtu"`, "68..65535"}},
		{"unknown network", e.conf("1.0.0", map[string]any{"network": "nope"}), 7, []string{`"network"`, `"nope" is not in`, "pods, nobridge"}},
		{"invalid network name", e.conf("1.0.0", map[string]any{"network": "../x"}), 7, []string{`"network"`}},
		{"relative stateDir", e.conf("1.0.0", map[string]any{"stateDir": "var/lib/vxbgp"}), 7, []string{`"stateDir"`, "absolute"}},
		{"no networks.json", e.conf("1.0.0", map[string]any{"stateDir": t.TempDir()}), 7, []string{`"stateDir"`, "networks.json"}},
		{"bridge missing", e.conf("1.0.0", map[string]any{"network": "nobridge"}), 11, []string{"bridge vxbr999 of network nobridge does not exist"}},
		// Checked before skel, which would answer 6 (decoding failure)
		// or 1 (no cniVersion means 0.1.0): see Main.
		{"malformed JSON", `{"cniVersion": "1.0.0", "name": `, 7, []string{`"name"`, "invalid JSON at line 1 column 33"}},
		{"malformed JSON in a nested key", "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"type\": \"vxbgp-cni\",\n \"ipam\": {\"ranges\": [1, }}", 7, []string{`"ipam.ranges[1]"`, "line 2"}},
		{"not an object", `["vxbgp-cni"]`, 7, []string{"JSON object"}},
		{"missing cniVersion", `{"name": "x", "type": "vxbgp-cni"}`, 7, []string{`"cniVersion"`, "missing"}},
		{"missing name", `{"cniVersion": "1.0.0", "type": "vxbgp-cni"}`, 7, []string{`"name"`, "missing"}},
		{"type not a string", `{"cniVersion": "1.0.0", "name": "x", "type": 7}`, 7, []string{`"type"`, "want a string"}},
		{"unsupported version", e.conf("0.2.0", nil), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cniErr := e.run(t, pluginRun{cmd: "ADD", containerID: "c1", netns: e.podPath, conf: tt.conf})
			if cniErr == nil {
				t.Fatal("ADD succeeded")
			}
			if cniErr.Code != tt.code {
				t.Errorf("code = %d (%s), want %d", cniErr.Code, cniErr.Msg, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(cniErr.Msg, w) {
					t.Errorf("message %q does not contain %q", cniErr.Msg, w)
				}
			}
			if recs, err := e.store(t).List(); err != nil || len(recs) != 0 {
				t.Errorf("store holds %+v (%v) after a failed ADD", recs, err)
			}
			if v := e.hostVeths(t); len(v) != 0 {
				t.Errorf("host veths left: %v", v)
			}
			if got := e.agent.take(); len(got) != 0 {
				t.Errorf("agent was told %+v", got)
			}
		})
	}
}

// TestAddRollback: an ADD that fails half way (the pod already has the
// interface name) releases its address and leaves no veth.
func TestAddRollback(t *testing.T) {
	e := newTestEnv(t)
	nstest.IP(t, e.pod, "link", "add", "eth0", "type", "veth", "peer", "name", "other0")
	_, cniErr := e.run(t, pluginRun{cmd: "ADD", containerID: "c1", netns: e.podPath, conf: e.conf("1.1.0", nil)})
	if cniErr == nil {
		t.Fatal("ADD succeeded although the pod has an eth0")
	}
	if !strings.Contains(cniErr.Msg, "interface eth0 already exists in the pod's netns") {
		t.Errorf("message %q", cniErr.Msg)
	}
	if recs, err := e.store(t).List(); err != nil || len(recs) != 0 {
		t.Errorf("store holds %+v (%v)", recs, err)
	}
	if v := e.hostVeths(t); len(v) != 0 {
		t.Errorf("host veths left: %v", v)
	}
	if got := e.agent.take(); len(got) != 0 {
		t.Errorf("agent was told %+v", got)
	}
	// The pod's own interface is untouched.
	if _, err := e.podH.LinkByName("eth0"); err != nil {
		t.Errorf("pod's eth0: %v", err)
	}
}

// TestAddRepeated: an ADD for an attachment that already exists (a
// runtime retrying after a crash) replaces it and keeps the address.
func TestAddRepeated(t *testing.T) {
	e := newTestEnv(t)
	r := pluginRun{cmd: "ADD", containerID: "c1", netns: e.podPath, conf: e.conf("1.1.0", nil)}
	e.mustRun(t, r)
	e.mustRun(t, r)
	if got := nstest.IP(t, e.pod, "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(got, "inet 10.244.1.1/16 ") {
		t.Errorf("pod address after the second ADD: %s", got)
	}
	if v := e.hostVeths(t); len(v) != 1 {
		t.Errorf("host veths: %v, want one", v)
	}
	r.cmd = "CHECK"
	e.mustRun(t, r)
}

// TestTwoPods: two pods on the bridge get distinct addresses and reach
// each other and the gateway.
func TestTwoPods(t *testing.T) {
	e := newTestEnv(t)
	_, pod2 := nstest.New(t, "vxcq")
	conf := e.conf("1.1.0", nil)
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "c1", netns: e.podPath, conf: conf})
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "c2", netns: "/var/run/netns/" + pod2, conf: conf})
	recs, err := e.store(t).List()
	if err != nil || len(recs) != 2 || recs[0].IPs[0] == recs[1].IPs[0] {
		t.Fatalf("records %+v (%v)", recs, err)
	}
	ping(t, e.pod, recs[1].IPs[0].String())
	ping(t, pod2, recs[0].IPs[0].String())
	ping(t, pod2, "10.244.0.1")
}

// TestDelNetnsGone: DEL after the pod's netns was deleted (the veth died
// with it, or is dying) still releases the address.
func TestDelNetnsGone(t *testing.T) {
	e := newTestEnv(t)
	name := nstest.UniqueName("vxcg")
	nstest.Run(t, "ip", "netns", "add", name)
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			nstest.Run(t, "ip", "netns", "del", name)
		}
	})
	path := "/var/run/netns/" + name
	conf := e.conf("1.1.0", nil)
	for _, netnsArg := range []string{path, ""} { // runtimes pass the old path, or nothing
		t.Run(fmt.Sprintf("netns=%q", netnsArg), func(t *testing.T) {
			if deleted {
				nstest.Run(t, "ip", "netns", "add", name)
				deleted = false
			}
			e.mustRun(t, pluginRun{cmd: "ADD", containerID: "c1", netns: path, conf: conf})
			nstest.Run(t, "ip", "netns", "del", name)
			deleted = true
			e.mustRun(t, pluginRun{cmd: "DEL", containerID: "c1", netns: netnsArg, conf: conf})
			if _, ok, err := e.store(t).Get("c1", "eth0"); ok || err != nil {
				t.Errorf("still allocated (%v)", err)
			}
			if v := e.hostVeths(t); len(v) != 0 {
				t.Errorf("host veths left: %v", v)
			}
		})
	}
}

// TestAgentDown: without an agent ADD and DEL still succeed; the store
// carries the endpoint for when the agent comes.
func TestAgentDown(t *testing.T) {
	e := newTestEnv(t)
	conf := e.conf("1.1.0", map[string]any{"socket": "/nonexistent/vxbgp.sock"})
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "c1", netns: e.podPath, conf: conf})
	eps, err := e.store(t).Endpoints()
	if err != nil || len(eps) != 1 || eps[0].ContainerID != "c1" || eps[0].MAC.IsZero() {
		t.Errorf("store endpoints %+v (%v)", eps, err)
	}
	e.mustRun(t, pluginRun{cmd: "DEL", containerID: "c1", netns: e.podPath, conf: conf})
	if eps, _ := e.store(t).Endpoints(); len(eps) != 0 {
		t.Errorf("store endpoints after DEL: %+v", eps)
	}
}

func TestMTUOverride(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, pluginRun{cmd: "ADD", containerID: "c1", netns: e.podPath, conf: e.conf("1.1.0", map[string]any{"mtu": 1300})})
	for _, h := range []struct {
		h    *netlink.Handle
		name string
	}{{e.hostH, HostVethName("c1", "eth0")}, {e.podH, "eth0"}} {
		l, err := h.h.LinkByName(h.name)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().MTU != 1300 {
			t.Errorf("%s mtu = %d, want 1300", h.name, l.Attrs().MTU)
		}
	}
}

func TestStatus(t *testing.T) {
	e := newTestEnv(t)
	r := pluginRun{cmd: "STATUS", conf: e.conf("1.1.0", nil)}
	e.mustRun(t, r)
	nstest.IP(t, e.host, "link", "del", e.net.Bridge)
	_, cniErr := e.run(t, r)
	if cniErr == nil || cniErr.Code != types.ErrPluginNotAvailable || !strings.Contains(cniErr.Msg, "vxbr100") {
		t.Errorf("STATUS without the bridge = %v, want code 50 naming vxbr100", cniErr)
	}
}

func TestVersionVerb(t *testing.T) {
	e := newTestEnv(t)
	out := e.mustRun(t, pluginRun{cmd: "VERSION", conf: `{"cniVersion":"1.1.0"}`})
	info, err := (&version.PluginDecoder{}).Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.SupportedVersions(), []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("supported versions %v, want %v", got, want)
	}
}

// TestIPv6: an IPv6 network gets a /<subnet> address from its block and a
// ::/0 route via the gateway, and reaches it.
func TestIPv6(t *testing.T) {
	e := newTestEnv(t)
	v6 := ipam.NetworkInfo{
		Name:   "pods6",
		VNI:    200,
		Bridge: "vxbr200",
		Pools: []ipam.Pool{{
			Subnet:  netip.MustParsePrefix("fd00:244::/48"),
			Block:   netip.MustParsePrefix("fd00:244:0:1::/64"),
			Gateway: netip.MustParseAddr("fd00:244::1"),
		}},
	}
	if err := ipam.WriteNetworks(e.stateDir, []ipam.NetworkInfo{e.net, v6}); err != nil {
		t.Fatal(err)
	}
	nstest.IP(t, e.host, "link", "add", v6.Bridge, "type", "bridge")
	nstest.IP(t, e.host, "link", "set", v6.Bridge, "mtu", "1450", "up")
	nstest.IP(t, e.host, "addr", "add", "fd00:244::1/48", "dev", v6.Bridge, "nodad")
	conf := e.conf("1.1.0", map[string]any{"network": "pods6"})
	out := e.mustRun(t, pluginRun{cmd: "ADD", containerID: "c6", netns: e.podPath, conf: conf})
	res, err := types100.NewResultFromResult(mustResult(t, "1.1.0", out))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "fd00:244:0:1::1/48" || res.Routes[0].Dst.String() != "::/0" {
		t.Errorf("result %s", out)
	}
	if got := nstest.IP(t, e.pod, "-6", "route", "show", "default"); !strings.Contains(got, "default via fd00:244::1 dev eth0") {
		t.Errorf("pod default route: %q", got)
	}
	// No MTU in the network: the bridge's.
	if l, err := e.podH.LinkByName("eth0"); err != nil || l.Attrs().MTU != 1450 {
		t.Errorf("pod eth0 mtu: %v %v, want the bridge's 1450", l, err)
	}
	nstest.Run(t, "ip", "netns", "exec", e.pod, "ping", "-6", "-c", "1", "-W", "5", "fd00:244::1")
	r := pluginRun{cmd: "CHECK", containerID: "c6", netns: e.podPath, conf: conf}
	e.mustRun(t, r)
	r.cmd = "DEL"
	e.mustRun(t, r)
	if v := e.hostVeths(t); len(v) != 0 {
		t.Errorf("host veths left: %v", v)
	}
}

func mustResult(t *testing.T, ver string, out []byte) types.Result {
	t.Helper()
	r, err := version.NewResult(ver, out)
	if err != nil {
		t.Fatalf("parse %s result: %v\n%s", ver, err, out)
	}
	return r
}
