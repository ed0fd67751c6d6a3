package agent

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// The in-process agent: RunWith over the fake kernel (overlaytest) and the
// fake speaker (bgptest.Fake), both of which fail the test when the agent
// breaks their contracts (an entry without its device, a withdrawal of
// what was never advertised, a second watcher, peers before our table).

const (
	peerAddr = "192.0.2.2"
	peerVTEP = "192.0.2.2"
)

// testConfig is a host 192.0.2.1 (overlaytest's default underlay) with one
// static peer and one network.
func testConfig(t *testing.T, dir, mode string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.NodeName = "h1"
	cfg.Mode = mode
	cfg.Underlay.Address = "192.0.2.1"
	cfg.BGP.ASN = 64512
	cfg.BGP.Peers = []config.Peer{{Address: peerAddr, ASN: 64512}}
	cfg.Networks = []config.Network{{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24"}}
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.API.Socket = filepath.Join(dir, "api.sock")
	cfg.Metrics.Listen = ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run is one agent run: its speaker, its API client and how to stop it.
type run struct {
	sp   *bgptest.Fake
	api  *localapi.Client
	stop func() error
}

// startAgent runs the agent on dp with a new fake speaker until stop, and
// waits until it configured its static peer.
func startAgent(t *testing.T, cfg *config.Config, dp *overlaytest.Dataplane) *run {
	t.Helper()
	return startAgentWith(t, cfg, dp, true)
}

// startAgentWith is startAgent; with waitPeer false it returns without
// waiting for a peer (discovery's come later).
func startAgentWith(t *testing.T, cfg *config.Config, dp *overlaytest.Dataplane, waitPeer bool, opts ...func(*Parts)) *run {
	t.Helper()
	sp := bgptest.NewFake(t)
	sp.RequireAdvertisedBeforePeers()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := bgptest.Logger(t).With("run", time.Now().Format("15:04:05.000"))
	parts := Parts{
		Dataplane:  dp,
		NewSpeaker: func(context.Context, bgp.Config) (Speaker, error) { return sp, nil },
	}
	for _, o := range opts {
		o(&parts)
	}
	go func() { done <- RunWith(ctx, cfg, log, parts) }()
	r := &run{sp: sp, api: localapi.NewClient(cfg.API.Socket)}
	stopped := false
	r.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("the agent did not stop")
			return nil
		}
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("agent: %v", err)
		}
		if v := dp.Violations(); len(v) > 0 {
			t.Errorf("kernel invariants broken:\n%s", strings.Join(v, "\n"))
		}
	})
	if waitPeer {
		bgptest.WaitFor(t, "the sessions configured", 10*time.Second, func() bool { return len(sp.Configured()) == 1 })
	} else {
		bgptest.WaitFor(t, "the API", 10*time.Second, func() bool { _, err := r.api.Status(context.Background()); return err == nil })
	}
	return r
}

// storeEndpoint records a pod the way the CNI plugin does before it calls
// the agent (or while the agent is down).
func storeEndpoint(t *testing.T, cfg *config.Config, id, mac, ip string) {
	t.Helper()
	s, err := ipam.Open(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	r := ipam.Record{ContainerID: id, IfName: "eth0", Network: "pods", IPs: []netip.Addr{netip.MustParseAddr(ip)}, MAC: overlay.MustParseMAC(mac)}
	if err := s.Claim(r); err != nil {
		t.Fatal(err)
	}
}

// remoteType2 is the peer's type-2 route for mac/ip behind its VTEP, as
// the speaker's watch hands it over.
func remoteType2(t *testing.T, mac, ip string, withdraw bool) *api.Path {
	t.Helper()
	p, err := evpn.Type2(64512, netip.MustParseAddr(peerAddr), 1, 100, netip.MustParseAddr(peerVTEP), overlay.MustParseMAC(mac), netip.MustParseAddr(ip))
	if err != nil {
		t.Fatal(err)
	}
	p.NeighborIp, p.IsWithdraw = peerAddr, withdraw
	return p
}

// kernelHas waits until the fake kernel's state, in iproute2 form, has
// every line of want and none of unwanted.
func kernelHas(t *testing.T, dp *overlaytest.Dataplane, what string, want, unwanted []string) {
	t.Helper()
	bgptest.WaitFor(t, what, 10*time.Second, func() bool {
		s := dp.State().String()
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		for _, u := range unwanted {
			if strings.Contains(s, u) {
				return false
			}
		}
		return true
	})
}

func fdb(mac string) string { return "fdb " + mac + " dev vxlan100 dst " + peerVTEP }

// Start-up order and the endpoint path: stored endpoints are advertised
// before the first session (the fake checks WaitAdvertised came first and
// the table then held them); API ADDs and DELs reach the speaker; received
// routes reach the kernel; SIGTERM (ctx) leaves the kernel as it is.
func TestAgentStartAndEndpoints(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	storeEndpoint(t, cfg, "stored", "02:00:00:00:01:01", "10.244.1.11")
	dp := overlaytest.New()
	r := startAgent(t, cfg, dp)

	tables := r.sp.PeerTables()
	if len(tables) == 0 {
		t.Fatal("no SetPeers with peers")
	}
	first := strings.Join(tables[0], "\n")
	for _, want := range []string{"[type:multicast][rd:192.0.2.1:1]", "[mac:02:00:00:00:01:01][ip:10.244.1.11]"} {
		if !strings.Contains(first, want) {
			t.Fatalf("the first session came up without %s in our table:\n%s", want, first)
		}
	}
	kernelHas(t, dp, "the network's devices", []string{"link vxbr100 type bridge", "link vxlan100 type vxlan id 100"}, nil)

	ctx := context.Background()
	ep := localapi.Endpoint{ContainerID: "api", IfName: "eth0", MAC: "02:00:00:00:01:02", IPs: []string{"10.244.1.12"}}
	if err := r.api.AddEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "the API's endpoint advertised", 5*time.Second, func() bool {
		return slices.ContainsFunc(r.sp.Table(), func(s string) bool { return strings.Contains(s, "[ip:10.244.1.12]") })
	})
	bad := ep
	bad.Network = "nope"
	if err := r.api.AddEndpoint(ctx, bad); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("endpoint of an unknown network: %v", err)
	}
	eps, err := r.api.Endpoints(ctx)
	if err != nil || len(eps) != 2 || eps[0].ContainerID != "api" || eps[0].Network != "pods" {
		t.Fatalf("Endpoints = %+v, %v", eps, err)
	}
	if err := r.api.DelEndpoint(ctx, "api", "eth0"); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "the API's endpoint withdrawn", 5*time.Second, func() bool {
		return !slices.ContainsFunc(r.sp.Table(), func(s string) bool { return strings.Contains(s, "[ip:10.244.1.12]") })
	})

	r.sp.Deliver(remoteType2(t, "02:00:00:00:02:01", "10.244.2.1", false))
	kernelHas(t, dp, "the peer's pod in the kernel", []string{fdb("02:00:00:00:02:01"), "neigh 10.244.2.1 lladdr 02:00:00:00:02:01"}, nil)

	st, err := r.api.Status(ctx)
	if err != nil || st.Endpoints != 1 || st.Peers != 1 || st.FDBEntries != 1 || st.Mode != "overlay" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	before := dp.State().String()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if after := dp.State().String(); after != before {
		t.Fatalf("stopping changed the kernel:\n%s\nwas\n%s", after, before)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, ipam.NetworksFile)); err != nil {
		t.Fatalf("networks.json: %v", err)
	}
}

// A restart keeps the kernel: nothing is deleted until the peers'
// End-of-RIBs complete the table; then what the peer no longer has goes
// and what it re-sent stays.
func TestAgentRestartKeepsKernel(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	dp := overlaytest.New()
	r1 := startAgent(t, cfg, dp)
	r1.sp.Deliver(remoteType2(t, "02:00:00:00:02:01", "10.244.2.1", false))
	r1.sp.Deliver(remoteType2(t, "02:00:00:00:02:02", "10.244.2.2", false))
	kernelHas(t, dp, "the peer's pods", []string{fdb("02:00:00:00:02:01"), fdb("02:00:00:00:02:02")}, nil)
	if err := r1.stop(); err != nil {
		t.Fatal(err)
	}

	dp.Ops() // forget the first run's
	r2 := startAgent(t, cfg, dp)
	r2.sp.Deliver(remoteType2(t, "02:00:00:00:02:01", "10.244.2.1", false)) // re-sent; 02 is not
	r2.sp.PeerUp(peerAddr)
	time.Sleep(300 * time.Millisecond) // the reconciler's passes before the End-of-RIBs
	for _, op := range dp.Ops() {
		if op.Kind == overlay.OpDel {
			t.Fatalf("deleted before the table was complete: %s", op)
		}
	}
	kernelHas(t, dp, "the stale entry kept", []string{fdb("02:00:00:00:02:02")}, nil)
	r2.sp.EOR(bgp.FamilyEVPN, peerAddr)
	r2.sp.EOR(bgp.FamilyIPv4, peerAddr)
	kernelHas(t, dp, "the stale entry gone after the End-of-RIBs", []string{fdb("02:00:00:00:02:01")}, []string{fdb("02:00:00:00:02:02")})
}

// A switch to routed mode is a restart with the other mode: the VXLAN
// device and its entries stay until the table is complete, the peer's
// block is installed at once, then the tunnel goes; the bridge (and so
// the pods) stays throughout.
func TestAgentModeSwitch(t *testing.T) {
	dir := t.TempDir()
	dp := overlaytest.New()
	r1 := startAgent(t, testConfig(t, dir, config.ModeOverlay), dp)
	r1.sp.Deliver(remoteType2(t, "02:00:00:00:02:01", "10.244.2.1", false))
	kernelHas(t, dp, "the overlay", []string{"link vxlan100", fdb("02:00:00:00:02:01")}, nil)
	if err := r1.stop(); err != nil {
		t.Fatal(err)
	}

	r2 := startAgent(t, testConfig(t, dir, config.ModeRouted), dp)
	block := netip.MustParsePrefix("10.244.2.0/24")
	r2.sp.DeliverUnicast(block, bgp.UnicastPath{NextHop: netip.MustParseAddr(peerAddr), Peer: peerAddr})
	kernelHas(t, dp, "the peer's block routed while the tunnel stays",
		[]string{"10.244.2.0/24", "link vxlan100", fdb("02:00:00:00:02:01"), "link vxbr100"}, nil)
	r2.sp.EOR(bgp.FamilyIPv4, peerAddr)
	kernelHas(t, dp, "the tunnel gone once synced", []string{"10.244.2.0/24", "link vxbr100"}, []string{"vxlan100"})
	if routes := r2.sp.Table(); !slices.Contains(routes, "10.244.1.0/24") {
		t.Fatalf("routed mode does not advertise its block: %v", routes)
	}
}
