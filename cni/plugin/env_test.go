package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/ipam"
)

// pluginBin is the plugin binary TestMain builds, run the way a runtime
// runs it. Empty when not root: the privileged tests skip then.
var pluginBin string

// cniPath is the directory holding pluginBin and the reference plugins,
// the CNI_PATH of the libcni tests.
var cniPath string

// refPlugins are the reference plugins the chain tests run, at the
// version whose CNI 1.1 support the issue names.
var refPlugins = []string{"meta/portmap", "meta/bandwidth", "meta/tuning", "main/ptp", "main/bridge", "ipam/host-local"}

const refPluginsVersion = "v1.10.0"

// installRefPlugins builds the reference plugins into dir with go install,
// from the module proxy (or the module cache), as CI does.
func installRefPlugins(dir string) error {
	args := []string{"install"}
	for _, p := range refPlugins {
		args = append(args, "github.com/containernetworking/plugins/plugins/"+p+"@"+refPluginsVersion)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir // outside the module: pkg@version ignores go.mod anyway
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go install reference plugins %s: %w\n%s", refPluginsVersion, err, out)
	}
	return nil
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "vxbgp-cni-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		pluginBin = filepath.Join(dir, "vxbgp-cni")
		// Static, as make build ships it (the test binary itself runs with -race, which needs cgo).
		build := exec.Command("go", "build", "-o", pluginBin, "github.com/vxbgp/vxbgp/cmd/vxbgp-cni")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build vxbgp-cni: %v\n%s", err, out)
			return 1
		}
		if err := installRefPlugins(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cniPath = dir
	}
	return m.Run()
}

// testEnv is one host and one pod netns, with the bridge the agent would
// have made, a networks.json and a fake agent.
type testEnv struct {
	hostNS   netns.NsHandle
	host     string // netns name
	podNS    netns.NsHandle
	pod      string
	podPath  string
	stateDir string
	socket   string
	agent    *fakeAgent
	net      ipam.NetworkInfo
	hostH    *netlink.Handle
	podH     *netlink.Handle
}

func testNetwork() ipam.NetworkInfo {
	return ipam.NetworkInfo{
		Name:   "pods",
		VNI:    100,
		Bridge: "vxbr100",
		MTU:    1400,
		Pools: []ipam.Pool{{
			Subnet:  netip.MustParsePrefix("10.244.0.0/16"),
			Block:   netip.MustParsePrefix("10.244.1.0/24"),
			Gateway: netip.MustParseAddr("10.244.0.1"),
		}},
	}
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	nstest.Require(t)
	if pluginBin == "" {
		t.Fatal("plugin binary not built")
	}
	e := &testEnv{net: testNetwork(), stateDir: t.TempDir()}
	e.hostNS, e.host = nstest.New(t, "vxch")
	e.podNS, e.pod = nstest.New(t, "vxcp")
	e.podPath = "/var/run/netns/" + e.pod
	nstest.IP(t, e.host, "link", "add", e.net.Bridge, "type", "bridge")
	nstest.IP(t, e.host, "link", "set", e.net.Bridge, "address", "02:76:78:62:67:01", "mtu", "1450", "up")
	nstest.IP(t, e.host, "addr", "add", "10.244.0.1/16", "dev", e.net.Bridge)
	other := e.net
	other.Name, other.VNI, other.Bridge = "nobridge", 999, "vxbr999"
	if err := ipam.WriteNetworks(e.stateDir, []ipam.NetworkInfo{e.net, other}); err != nil {
		t.Fatal(err)
	}
	e.agent = startFakeAgent(t)
	e.socket = e.agent.socket
	var err error
	if e.hostH, err = netlink.NewHandleAt(e.hostNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.hostH.Close)
	if e.podH, err = netlink.NewHandleAt(e.podNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.podH.Close)
	return e
}

// conf returns a network config; extra keys override the defaults.
func (e *testEnv) conf(cniVersion string, extra map[string]any) string {
	c := map[string]any{
		"cniVersion": cniVersion,
		"name":       "vxbgp-test",
		"type":       "vxbgp-cni",
		"stateDir":   e.stateDir,
		"socket":     e.socket,
	}
	for k, v := range extra {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// pluginRun is one invocation of the plugin binary.
type pluginRun struct {
	cmd, containerID, ifName, netns, conf string
}

// run runs the plugin in the host netns, as a runtime would. It returns
// stdout, and the CNI error when the plugin failed.
func (e *testEnv) run(t *testing.T, r pluginRun) ([]byte, *types.Error) {
	t.Helper()
	if r.ifName == "" {
		r.ifName = "eth0"
	}
	c := exec.Command("ip", "netns", "exec", e.host, pluginBin)
	c.Env = []string{
		"CNI_COMMAND=" + r.cmd,
		"CNI_CONTAINERID=" + r.containerID,
		"CNI_NETNS=" + r.netns,
		"CNI_IFNAME=" + r.ifName,
		"CNI_PATH=/opt/cni/bin",
		"PATH=" + os.Getenv("PATH"),
	}
	c.Stdin = strings.NewReader(r.conf)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	if stderr.Len() > 0 {
		t.Logf("%s stderr: %s", r.cmd, stderr.String())
	}
	if err == nil {
		return stdout.Bytes(), nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("run plugin %s: %v", r.cmd, err)
	}
	var cniErr types.Error
	if jerr := json.Unmarshal(stdout.Bytes(), &cniErr); jerr != nil {
		t.Fatalf("plugin %s failed (%v) without a CNI error on stdout: %q", r.cmd, err, stdout.String())
	}
	return stdout.Bytes(), &cniErr
}

// mustRun is run for invocations that must succeed.
func (e *testEnv) mustRun(t *testing.T, r pluginRun) []byte {
	t.Helper()
	out, cniErr := e.run(t, r)
	if cniErr != nil {
		t.Fatalf("%s: %v", r.cmd, cniErr)
	}
	return out
}

func (e *testEnv) store(t *testing.T) *ipam.Store {
	t.Helper()
	s, err := ipam.Open(e.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostVeths lists the veths in the host netns: the plugin's host ends.
func (e *testEnv) hostVeths(t *testing.T) []string {
	t.Helper()
	links, err := retryDump(e.hostH.LinkList)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		if l.Type() == "veth" {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

// ping sends one ping from netns ns to ip and fails the test when no
// answer comes within a few seconds.
func ping(t *testing.T, ns, ip string) {
	t.Helper()
	nstest.Run(t, "ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "5", ip)
}

// fakeAgent records the endpoint announcements it receives.
type fakeAgent struct {
	socket string
	mu     sync.Mutex
	reqs   []agentRequest
}

type agentRequest struct {
	Method   string
	Query    string
	Endpoint localapi.Endpoint // PUT only
}

func startFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	dir, err := os.MkdirTemp("", "vxa") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	a := &fakeAgent{socket: filepath.Join(dir, "api.sock")}
	l, err := net.Listen("unix", a.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(a.serve)}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return a
}

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	req := agentRequest{Method: r.Method, Query: r.URL.RawQuery}
	if r.URL.Path != "/v1/endpoints" {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"no such path"}`)
		return
	}
	if r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&req.Endpoint); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	a.mu.Lock()
	a.reqs = append(a.reqs, req)
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// take returns the requests received since the last take.
func (a *fakeAgent) take() []agentRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.reqs
	a.reqs = nil
	return r
}
