package agent

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// fleetConfig is host n (127.0.0.20+n) of a fleet that finds itself from
// one seed (host 1) and lists no BGP peer.
func fleetConfig(t *testing.T, n int) *config.Config {
	t.Helper()
	addr := netip.AddrFrom4([4]byte{127, 0, 0, byte(20 + n)})
	cfg := testConfig(t, t.TempDir(), config.ModeOverlay)
	cfg.NodeName = "h" + strconv.Itoa(n)
	cfg.Underlay.Address, cfg.BGP.RouterID = addr.String(), addr.String()
	cfg.BGP.Peers = nil
	cfg.BGP.ListenPort = int(bgptest.FreePort(t, addr.String()))
	cfg.Discovery.BindPort = int(bgptest.FreePort(t, addr.String()))
	cfg.Networks[0].Block = "10.244." + strconv.Itoa(n) + ".0/24"
	cfg.API.Socket = filepath.Join(t.TempDir(), "api.sock")
	return cfg
}

// startFleetAgent runs an agent with discovery on its own fake kernel,
// whose underlay address is the config's.
func startFleetAgent(t *testing.T, cfg *config.Config, grid *powerGrid) (*run, *overlaytest.Dataplane) {
	t.Helper()
	dp := overlaytest.New()
	ul := overlaytest.DefaultUnderlay()
	ul.Addr = netip.MustParseAddr(cfg.Underlay.Address)
	dp.SetUnderlay(ul)
	return startAgentWith(t, cfg, dp, false, grid.parts), dp
}

// powerGrid says which hosts are powered off: their address does not
// answer a masker's probe (on loopback every address would refuse it,
// which is what a live host does).
type powerGrid struct {
	mu  sync.Mutex
	off map[netip.Addr]bool
}

func (g *powerGrid) set(a string, off bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off == nil {
		g.off = map[netip.Addr]bool{}
	}
	g.off[netip.MustParseAddr(a)] = off
}

func (g *powerGrid) parts(p *Parts) {
	p.Probe = func(_ context.Context, a netip.Addr) bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return !g.off[a]
	}
}

// Discovery end to end in process: three agents that list no peer find
// each other from a seed and peer ("discovered"); vxbgpctl members lists
// them.
// A member that dies with its session up (silent: a powered-off host) is
// masked: its FDB entries leave the kernel, its BGP peer stays. A member
// whose session closed first (an agent killed on a live host, which
// refuses the probe) is not masked.
func TestAgentFleet(t *testing.T) {
	c1, c2, c3 := fleetConfig(t, 1), fleetConfig(t, 2), fleetConfig(t, 3)
	seed := []string{"127.0.0.21:" + strconv.Itoa(c1.Discovery.BindPort)}
	c1.Discovery.Join, c2.Discovery.Join, c3.Discovery.Join = seed, seed, seed
	grid := &powerGrid{}
	r1, dp1 := startFleetAgent(t, c1, grid)
	r2, _ := startFleetAgent(t, c2, grid)
	startFleetAgent(t, c3, grid)

	bgptest.WaitFor(t, "each configures the others as its peers", 10*time.Second, func() bool {
		return slices.Equal(r1.sp.Configured(), []string{"127.0.0.22", "127.0.0.23"}) && slices.Equal(r2.sp.Configured(), []string{"127.0.0.21", "127.0.0.23"})
	})
	ctx := context.Background()
	ms, err := r1.api.Members(ctx)
	if err != nil || len(ms) != 3 || ms[0].NodeName != "h1" || !ms[0].Self || ms[1].Address != "127.0.0.22" || ms[1].State != "alive" ||
		ms[1].ASN != 64512 || !slices.Equal(ms[1].Blocks, []string{"10.244.2.0/24"}) {
		t.Fatalf("members = %+v, %v", ms, err)
	}
	peers, err := r1.api.Peers(ctx)
	if err != nil || len(peers) != 2 || peers[0].Source != "discovered" {
		t.Fatalf("peers = %+v, %v", peers, err)
	}

	// h2 announces a pod; h1 installs it; h2's session is up.
	r1.sp.Deliver(remoteType2At(t, netip.MustParseAddr("127.0.0.22"), "02:00:00:00:02:01", "10.244.2.1"))
	for _, peer := range []string{"127.0.0.22", "127.0.0.23"} {
		r1.sp.PeerUp(peer)
		r1.sp.EOR("evpn", peer)
		r1.sp.EOR("ipv4", peer) // synced: the reconciler deletes nothing before
	}
	fdb2 := "fdb 02:00:00:00:02:01 dev vxlan100 dst 127.0.0.22"
	kernelHas(t, dp1, "h2's pod on h1", []string{fdb2}, nil)
	bgptest.WaitFor(t, "h1 synced", 5*time.Second, func() bool { st, _ := r1.api.Status(ctx); return st.Synced })

	// h2 is powered off (its session stays up at h1, its address stops
	// answering): masked within the failure detector's time.
	t0 := time.Now()
	grid.set("127.0.0.22", true)
	if err := r2.stop(); err != nil {
		t.Fatal(err)
	}
	kernelHas(t, dp1, "h2 masked", nil, []string{fdb2})
	t.Logf("h2 out of h1's kernel %v after its agent stopped", time.Since(t0).Round(time.Millisecond))
	ms, _ = r1.api.Members(ctx)
	if len(ms) != 3 || ms[1].State != "dead" || !ms[1].Masked {
		t.Fatalf("members after h2 died: %+v", ms)
	}
	if got := r1.sp.Configured(); !slices.Contains(got, "127.0.0.22") {
		t.Fatalf("h2's BGP peer was removed (a hard reset would drop its routes): %v", got)
	}

	// h2 back: unmasked once alive with a fresh session and its table.
	r1.sp.PeerDown("127.0.0.22") // h1's hold timer ran out meanwhile
	grid.set("127.0.0.22", false)
	r2, _ = startFleetAgent(t, c2, grid)
	bgptest.WaitFor(t, "h2 alive again", 10*time.Second, func() bool {
		ms, _ := r1.api.Members(ctx)
		return len(ms) == 3 && ms[1].State == "alive"
	})
	time.Sleep(200 * time.Millisecond)
	kernelHas(t, dp1, "alive but no fresh session: still masked", nil, []string{fdb2})
	r1.sp.PeerUp("127.0.0.22")
	r1.sp.EOR("evpn", "127.0.0.22")
	kernelHas(t, dp1, "h2 unmasked", []string{fdb2}, nil)

	// An agent killed on a live host: its session closes, it dies for
	// gossip, its host refuses the probe: not masked.
	r1.sp.PeerDown("127.0.0.22")
	if err := r2.stop(); err != nil {
		t.Fatal(err)
	}
	bgptest.WaitFor(t, "h2 dead again", 10*time.Second, func() bool {
		ms, _ := r1.api.Members(ctx)
		return len(ms) == 3 && ms[1].State == "dead"
	})
	time.Sleep(500 * time.Millisecond) // the probe's time
	kernelHas(t, dp1, "a restart is not masked", []string{fdb2}, nil)
	if ms, _ := r1.api.Members(ctx); ms[1].Masked {
		t.Fatalf("masked an agent restart: %+v", ms[1])
	}
}

// remoteType2At is a type-2 route from the host at vtep (also its BGP
// address).
func remoteType2At(t *testing.T, vtep netip.Addr, mac, ip string) *api.Path {
	t.Helper()
	p, err := evpn.Type2(64512, vtep, 1, 100, vtep, overlay.MustParseMAC(mac), netip.MustParseAddr(ip))
	if err != nil {
		t.Fatal(err)
	}
	p.NeighborIp = vtep.String()
	return p
}
