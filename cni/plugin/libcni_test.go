package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/internal/nstest"
)

// The tests in this file drive the plugin the way a container runtime
// does: through libcni, with a conflist, and with the reference plugins
// v1.10.0 after it. libcni executes plugins from the calling thread, which
// withHost switches into the test's host netns.

// cniRuntime is libcni set up for one testEnv.
type cniRuntime struct {
	e   *testEnv
	cfg *libcni.CNIConfig
}

func (e *testEnv) runtime(t *testing.T) *cniRuntime {
	t.Helper()
	if cniPath == "" {
		t.Fatal("plugins not built")
	}
	return &cniRuntime{e: e, cfg: libcni.NewCNIConfigWithCacheDir([]string{cniPath}, t.TempDir(), nil)}
}

// conflist builds a network config list named name: vxbgp-cni (with
// extra keys) followed by the given plugins.
func (e *testEnv) conflist(t *testing.T, ver, name string, extra map[string]any, next ...map[string]any) *libcni.NetworkConfigList {
	t.Helper()
	first := map[string]any{"type": "vxbgp-cni", "stateDir": e.stateDir, "socket": e.socket}
	for k, v := range extra {
		first[k] = v
	}
	b, err := json.Marshal(map[string]any{
		"cniVersion": ver,
		"name":       name,
		"plugins":    append([]map[string]any{first}, next...),
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		t.Fatalf("conflist %s: %v", b, err)
	}
	return list
}

// conflistRaw builds a network config list of exactly the given plugins.
func (e *testEnv) conflistRaw(t *testing.T, ver, name string, plugins ...map[string]any) *libcni.NetworkConfigList {
	t.Helper()
	b, err := json.Marshal(map[string]any{"cniVersion": ver, "name": name, "plugins": plugins})
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		t.Fatalf("conflist %s: %v", b, err)
	}
	return list
}

// withHost runs f with the calling thread in the host netns, so that the
// plugins libcni executes run there, as a runtime runs them on a node.
func (r *cniRuntime) withHost(f func() error) error {
	return nstest.Do(r.e.hostNS, f)
}

func (r *cniRuntime) rt(cid, netnsPath string, caps map[string]any) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: cid, NetNS: netnsPath, IfName: "eth0", CapabilityArgs: caps}
}

func (r *cniRuntime) add(t *testing.T, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) *types100.Result {
	t.Helper()
	var res types.Result
	err := r.withHost(func() error {
		var err error
		res, err = r.cfg.AddNetworkList(context.Background(), list, rt)
		return err
	})
	if err != nil {
		t.Fatalf("ADD %s: %v", rt.ContainerID, err)
	}
	cur, err := types100.NewResultFromResult(res)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

func (r *cniRuntime) check(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	return r.withHost(func() error { return r.cfg.CheckNetworkList(context.Background(), list, rt) })
}

func (r *cniRuntime) del(t *testing.T, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) {
	t.Helper()
	if err := r.withHost(func() error { return r.cfg.DelNetworkList(context.Background(), list, rt) }); err != nil {
		t.Fatalf("DEL %s: %v", rt.ContainerID, err)
	}
}

func (r *cniRuntime) status(list *libcni.NetworkConfigList) error {
	return r.withHost(func() error { return r.cfg.GetStatusNetworkList(context.Background(), list) })
}

func (r *cniRuntime) gc(list *libcni.NetworkConfigList, valid ...string) error {
	args := &libcni.GCArgs{ValidAttachments: []types.GCAttachment{}}
	for _, cid := range valid {
		args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: cid, IfName: "eth0"})
	}
	return r.withHost(func() error { return r.cfg.GCNetworkList(context.Background(), list, args) })
}

// newPod is one more pod netns; it returns its handle, name and path.
func newPod(t *testing.T) (netns.NsHandle, string, string) {
	t.Helper()
	h, name := nstest.New(t, "vxcp")
	return h, name, "/var/run/netns/" + name
}

// TestChainPortmapBandwidthTuning: vxbgp-cni → portmap → bandwidth →
// tuning through libcni. ADD succeeds and each plugin did its part (a
// host port reaches a listener in the pod; the host veth is shaped; the
// pod's sysctl is set); CHECK passes; DEL removes all of it.
func TestChainPortmapBandwidthTuning(t *testing.T) {
	e := newTestEnv(t)
	nstest.RequireTool(t, "nft")
	nstest.RequireTool(t, "tc")
	r := e.runtime(t)
	list := e.conflist(t, "1.1.0", "vxchain", nil,
		map[string]any{"type": "portmap", "backend": "nftables", "capabilities": map[string]any{"portMappings": true}},
		map[string]any{"type": "bandwidth", "capabilities": map[string]any{"bandwidth": true}},
		map[string]any{"type": "tuning", "sysctl": map[string]any{"net.core.somaxconn": "777"}},
	)
	const hostPort, podPort = 18080, 8080
	rt := r.rt("chain1", e.podPath, map[string]any{
		"portMappings": []map[string]any{{"hostPort": hostPort, "containerPort": podPort, "protocol": "tcp"}},
		"bandwidth":    map[string]any{"ingressRate": 8_000_000, "ingressBurst": 1_000_000},
	})
	res := r.add(t, list, rt)
	if len(res.IPs) != 1 || res.IPs[0].Address.IP.String() != "10.244.1.1" {
		t.Fatalf("chain result IPs %v", res.IPs)
	}
	hostIf := HostVethName("chain1", "eth0")

	// portmap: the host's port reaches a listener in the pod.
	var ln net.Listener
	if err := nstest.Do(e.podNS, func() (err error) { ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", podPort)); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from the pod\n")
			c.Close()
		}
	}()
	var got []byte
	if err := nstest.Do(e.hostNS, func() error {
		c, err := net.DialTimeout("tcp4", fmt.Sprintf("10.244.0.1:%d", hostPort), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err = io.ReadAll(c)
		return err
	}); err != nil {
		t.Fatalf("connect to host port %d: %v", hostPort, err)
	}
	if string(got) != "hello from the pod\n" {
		t.Errorf("through host port %d got %q", hostPort, got)
	}
	if rules := nstest.Run(t, "ip", "netns", "exec", e.host, "nft", "list", "ruleset"); !strings.Contains(rules, fmt.Sprint(hostPort)) {
		t.Errorf("no nftables rule for port %d:\n%s", hostPort, rules)
	}
	// bandwidth: a token bucket on the host veth.
	if q := nstest.IP(t, e.host, "link", "show", hostIf); !strings.Contains(q, "qdisc tbf") {
		t.Errorf("host veth %s not shaped: %s", hostIf, q)
	}
	// tuning: the pod's sysctl.
	if v := strings.TrimSpace(nstest.Run(t, "ip", "netns", "exec", e.pod, "cat", "/proc/sys/net/core/somaxconn")); v != "777" {
		t.Errorf("pod net.core.somaxconn = %s, want 777", v)
	}
	if err := r.check(list, rt); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if err := r.status(list); err != nil {
		t.Errorf("STATUS: %v", err)
	}

	r.del(t, list, rt)
	if v := e.hostVeths(t); len(v) != 0 {
		t.Errorf("host veths left: %v", v)
	}
	if recs, err := e.store(t).List(); err != nil || len(recs) != 0 {
		t.Errorf("store holds %+v (%v)", recs, err)
	}
	if rules := nstest.Run(t, "ip", "netns", "exec", e.host, "nft", "list", "ruleset"); strings.Contains(rules, fmt.Sprint(hostPort)) {
		t.Errorf("nftables rule for port %d left:\n%s", hostPort, rules)
	}
	if err := nstest.Do(e.hostNS, func() error {
		c, err := net.DialTimeout("tcp4", fmt.Sprintf("10.244.0.1:%d", hostPort), time.Second)
		if err == nil {
			c.Close()
			return errors.New("host port still reaches something")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	// A second DEL, as runtimes repeat it, succeeds.
	r.del(t, list, rt)
}

// TestLibcniRoundTrip: ADD, CHECK, STATUS, GC, VERSION and DEL through
// libcni for each cniVersion a runtime may pick. libcni itself sends
// STATUS and GC only for 1.1.0 (for older versions GC is libcni's DEL of
// cached attachments), so the outcome is checked, not the transport.
func TestLibcniRoundTrip(t *testing.T) {
	for _, ver := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		t.Run(ver, func(t *testing.T) {
			e := newTestEnv(t)
			r := e.runtime(t)
			tuning := map[string]any{"type": "tuning", "sysctl": map[string]any{"net.core.somaxconn": "555"}}
			list := e.conflist(t, ver, "vxrt", nil, tuning)
			other := e.conflist(t, ver, "vxother", nil)
			_, _, pod2 := newPod(t)
			_, _, pod3 := newPod(t)
			rt1, rt2, rt3 := r.rt("keep", e.podPath, nil), r.rt("stale", pod2, nil), r.rt("othernet", pod3, nil)

			res := r.add(t, list, rt1)
			if res.CNIVersion != "1.1.0" && ver == "1.1.0" || len(res.IPs) != 1 {
				t.Errorf("ADD result %+v", res)
			}
			r.add(t, list, rt2)
			r.add(t, other, rt3)
			if err := r.check(list, rt1); err != nil {
				t.Errorf("CHECK: %v", err)
			}
			if err := r.status(list); err != nil {
				t.Errorf("STATUS: %v", err)
			}
			info, err := r.cfg.GetVersionInfo(context.Background(), "vxbgp-cni")
			if err != nil || !reflect.DeepEqual(info.SupportedVersions(), []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}) {
				t.Errorf("VERSION: %v %v", info, err)
			}

			// A veth named like ours that no allocation accounts for.
			ghost := HostVethName("ghost", "eth0")
			nstest.IP(t, e.host, "link", "add", ghost, "type", "veth", "peer", "name", "ghostp")

			if err := r.gc(list, "keep"); err != nil {
				t.Fatalf("GC: %v", err)
			}
			recs, err := e.store(t).List()
			if err != nil {
				t.Fatal(err)
			}
			var held []string
			for _, rec := range recs {
				held = append(held, rec.ContainerID)
			}
			if !reflect.DeepEqual(held, []string{"keep", "othernet"}) {
				t.Errorf("after GC the store holds %v, want [keep othernet]: GC freed the stale one only, and only its own network's", held)
			}
			veths := e.hostVeths(t)
			want := []string{HostVethName("keep", "eth0"), HostVethName("othernet", "eth0")}
			if ver == "1.1.0" {
				// Only the plugin's GC removes what no runtime knows of.
				if strings.Contains(strings.Join(veths, " "), ghost) {
					t.Errorf("GC left the orphaned veth %s", ghost)
				}
			} else {
				want = append(want, ghost, "ghostp")
			}
			if !sameSet(veths, want) {
				t.Errorf("host veths after GC %v, want %v", veths, want)
			}
			if err := r.check(list, rt1); err != nil {
				t.Errorf("CHECK after GC: %v", err)
			}

			r.del(t, list, rt1)
			r.del(t, other, rt3)
			if recs, err := e.store(t).List(); err != nil || len(recs) != 0 {
				t.Errorf("store holds %+v (%v)", recs, err)
			}
			if ver != "1.1.0" {
				nstest.IP(t, e.host, "link", "del", ghost)
			}
			if v := e.hostVeths(t); len(v) != 0 {
				t.Errorf("host veths left: %v", v)
			}
		})
	}
}

// TestLibcniStatusNotReady: STATUS fails with 50 when the host cannot
// attach pods (no networks.json: the agent never ran; the bridge is
// gone) and while the agent is down or not ready yet.
func TestLibcniStatusNotReady(t *testing.T) {
	e := newTestEnv(t)
	r := e.runtime(t)
	if err := r.status(e.conflist(t, "1.1.0", "vxst", nil)); err != nil {
		t.Errorf("STATUS with a ready agent: %v", err)
	}
	agentDown := e.conflist(t, "1.1.0", "vxst", map[string]any{"socket": "/nonexistent/vxbgp.sock"})
	wantCode(t, "STATUS with the agent down", r.status(agentDown), types.ErrPluginNotAvailable, "agent at /nonexistent/vxbgp.sock unreachable")
	e.agent.mu.Lock()
	e.agent.notReady = true
	e.agent.mu.Unlock()
	wantCode(t, "STATUS with the agent not ready", r.status(e.conflist(t, "1.1.0", "vxst", nil)), types.ErrPluginNotAvailable, "is starting")
	e.agent.mu.Lock()
	e.agent.notReady = false
	e.agent.mu.Unlock()
	noState := e.conflist(t, "1.1.0", "vxst", map[string]any{"stateDir": t.TempDir()})
	wantCode(t, "STATUS without networks.json", r.status(noState), types.ErrPluginNotAvailable, "networks.json")
	nstest.IP(t, e.host, "link", "del", e.net.Bridge)
	wantCode(t, "STATUS without the bridge", r.status(e.conflist(t, "1.1.0", "vxst", nil)), types.ErrPluginNotAvailable, "vxbr100")
}

// TestLibcniCheckDetects: CHECK through the chain fails once the pod's
// address or default route was removed by hand.
func TestLibcniCheckDetects(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		damage     []string
	}{
		{"address", "address 10.244.1.1/16 missing on eth0", []string{"addr", "del", "10.244.1.1/16", "dev", "eth0"}},
		{"route", "default route via 10.244.0.1 missing on eth0", []string{"route", "del", "default"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			r := e.runtime(t)
			list := e.conflist(t, "1.1.0", "vxck", nil, map[string]any{"type": "tuning", "sysctl": map[string]any{"net.core.somaxconn": "555"}})
			rt := r.rt("ck", e.podPath, nil)
			r.add(t, list, rt)
			if err := r.check(list, rt); err != nil {
				t.Fatalf("CHECK before the damage: %v", err)
			}
			nstest.IP(t, e.pod, tt.damage...)
			err := r.check(list, rt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CHECK after removing the %s: %v, want it to name %q", tt.name, err, tt.want)
			}
			r.del(t, list, rt)
		})
	}
}

// wantCode fails unless err is a CNI error with code and a message
// containing want.
func wantCode(t *testing.T, what string, err error, code uint, want string) {
	t.Helper()
	var te *types.Error
	if !errors.As(err, &te) {
		t.Errorf("%s: %v, want CNI error %d", what, err, code)
		return
	}
	if te.Code != code || !strings.Contains(te.Msg, want) {
		t.Errorf("%s: code %d %q, want %d naming %q", what, te.Code, te.Msg, code, want)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestDeployConflist: the sample deploy/cni/10-vxbgp.conflist, with only
// the test's stateDir and socket filled in, attaches a pod with a port
// mapping and detaches it.
func TestDeployConflist(t *testing.T) {
	e := newTestEnv(t)
	r := e.runtime(t)
	b, err := os.ReadFile("../../deploy/cni/10-vxbgp.conflist")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("10-vxbgp.conflist: %v", err)
	}
	first := doc["plugins"].([]any)[0].(map[string]any)
	first["stateDir"], first["socket"] = e.stateDir, e.socket
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	rt := r.rt("deploy1", e.podPath, map[string]any{
		"portMappings": []map[string]any{{"hostPort": 18081, "containerPort": 80, "protocol": "tcp"}},
		"bandwidth":    map[string]any{"ingressRate": 8_000_000, "ingressBurst": 1_000_000},
	})
	r.add(t, list, rt)
	if err := r.check(list, rt); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if err := r.status(list); err != nil {
		t.Errorf("STATUS: %v", err)
	}
	r.del(t, list, rt)
	if v := e.hostVeths(t); len(v) != 0 {
		t.Errorf("host veths left: %v", v)
	}
}
