package evpn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/overlay"
)

const testASN = 64512

// testLogger logs into the test (shown with -v or on failure) until the
// test ends: GoBGP's goroutines outlive it, and t.Log afterwards panics.
func testLogger(t testing.TB) *slog.Logger {
	lv := slog.LevelWarn
	if os.Getenv("VXBGP_TEST_LOG") == "debug" {
		lv = slog.LevelDebug
	}
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func freePort(t testing.TB, ip string) int32 {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", ip, err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hostNetworks are the networks of a test host with VTEP vtep.
func hostNetworks(vtep netip.Addr, vnis ...uint32) []Network {
	var out []Network
	for i, vni := range vnis {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(243 + vni/100), 0, 0}), 16) // 100: 10.244/16, 200: 10.245/16, 300: 10.246/16
		out = append(out, Network{
			Name: fmt.Sprintf("net%d", vni), VNI: vni, Subnet: subnet, RDIndex: uint16(i + 1),
			Device: overlay.Device{VNI: vni, Network: fmt.Sprintf("net%d", vni), Bridge: overlay.BridgeName(vni), VXLAN: overlay.VXLANName(vni),
				VTEP: vtep, Underlay: "lo", Port: 4789, MTU: 1450, GatewayMAC: overlay.DefaultGatewayMAC,
				Gateway: netip.PrefixFrom(subnet.Addr().Next(), 16)},
		})
	}
	return out
}

// host is one agent under test: a speaker and a Source on a loopback
// address, with the snapshots it published.
type host struct {
	name, ip string
	port     int32
	rid      netip.Addr
	vtep     netip.Addr
	sp       *bgp.Speaker
	src      *Source
	stop     func() // stops Run (the speaker is stopped in cleanup)

	mu      sync.Mutex
	history []overlay.State
}

type hostOpts struct {
	syncTimeout time.Duration
	vnis        []uint32
	port        int32 // 0: a free one
}

// newHost starts h's speaker; run starts its Source.
func newHost(t testing.TB, name, ip, rid, vtep string, o hostOpts) *host {
	t.Helper()
	h := &host{name: name, ip: ip, rid: netip.MustParseAddr(rid), vtep: netip.MustParseAddr(vtep)}
	log := testLogger(t).With("host", name)
	for attempt := 0; ; attempt++ {
		h.port = o.port
		if h.port == 0 {
			h.port = freePort(t, ip)
		}
		sp, err := bgp.New(context.Background(), bgp.Config{ASN: testASN, RouterID: rid, ListenPort: h.port, ListenAddress: ip, Logger: log})
		if err == nil {
			h.sp = sp
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || o.port != 0 || attempt == 5 {
			t.Fatalf("start %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.sp.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return h
}

// run starts h's Source. GoBGP v3 keeps route-selection options in package
// variables that every StartBgp writes and every route update reads
// (server.go:2470, table_manager.go:309): start all speakers of a test
// before any Source sends routes, and never run such tests in parallel.
func (h *host) run(t testing.TB, o hostOpts) *host {
	t.Helper()
	if len(o.vnis) == 0 {
		o.vnis = []uint32{100, 200}
	}
	log := testLogger(t).With("host", h.name)
	name := h.name
	h.src = NewSource(Config{ASN: testASN, RouterID: h.rid, VTEP: h.vtep, Networks: hostNetworks(h.vtep, o.vnis...),
		Logger: log, SyncTimeout: o.syncTimeout}, h.sp, h.record)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.src.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		})
	}
	t.Cleanup(h.stop) // runs before the speaker's Stop
	return h
}

func (h *host) record(st overlay.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, st)
}

func (h *host) published() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.history)
}

func (h *host) state() overlay.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.history) == 0 {
		return overlay.NewState()
	}
	return h.history[len(h.history)-1]
}

func (h *host) statesSince(i int) []overlay.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]overlay.State(nil), h.history[i:]...)
}

// peerCfg is how h configures other: the higher address is passive (see
// bgp.PeerConfig.Passive).
func (h *host) peerCfg(other *host) bgp.PeerConfig {
	return bgp.PeerConfig{Address: other.ip, ASN: testASN, Port: uint16(other.port), LocalAddress: h.ip,
		Passive: netip.MustParseAddr(h.ip).Compare(netip.MustParseAddr(other.ip)) > 0}
}

// mesh peers every host with every other one, after each has originated
// its routes (Ready), as the agent does.
func mesh(t testing.TB, hosts ...*host) {
	t.Helper()
	for _, h := range hosts {
		select {
		case <-h.src.Ready():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Source not ready (SetEndpoints called?)", h.name)
		}
		var peers []bgp.PeerConfig
		for _, o := range hosts {
			if o != h {
				peers = append(peers, h.peerCfg(o))
			}
		}
		if err := h.sp.SetPeers(context.Background(), peers); err != nil {
			t.Fatal(err)
		}
	}
}

// remoteOf renders the remote entries of h's latest snapshot.
func (h *host) remote() string { return remote(h.state()) }

func waitRemote(t testing.TB, h *host, want []string, timeout time.Duration) {
	t.Helper()
	w := strings.Join(want, "\n")
	deadline := time.Now().Add(timeout)
	for {
		got := h.remote()
		if got == w {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s state:\n%s\nwant\n%s", h.name, got, w)
		}
		time.Sleep(time.Millisecond)
	}
}

func ep(id, network, mac string, ips ...string) localapi.Endpoint {
	return localapi.Endpoint{ContainerID: id, IfName: "eth0", Network: network, MAC: mac, IPs: ips}
}

// Lines of the iproute2 rendering, for expectations.
func fdbLine(mac string, vni uint32, vtep string) string {
	return fmt.Sprintf("fdb %s dev vxlan%d dst %s self master extern_learn", mac, vni, vtep)
}
func floodLine(vni uint32, vtep string) string {
	return fmt.Sprintf("fdb 00:00:00:00:00:00 dev vxlan%d dst %s self permanent", vni, vtep)
}
func neighLine(ip, mac string, vni uint32) string {
	return fmt.Sprintf("neigh %s lladdr %s dev vxbr%d nud noarp extern_learn", ip, mac, vni)
}

// sorted returns lines sorted like State.String.
func sorted(lines ...string) []string {
	st := strings.Split(strings.Join(lines, "\n"), "\n")
	slices.Sort(st)
	return st
}
