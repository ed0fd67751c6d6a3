package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

const testASN = 64512

// testLogger writes to the test log only when -v is given, keeping failing
// runs readable; set VXBGP_TEST_LOG=debug to see GoBGP's debug output.
func testLogger(t testing.TB) *slog.Logger {
	lv := slog.LevelWarn
	if os.Getenv("VXBGP_TEST_LOG") == "debug" {
		lv = slog.LevelDebug
	}
	w := &tWriter{t: t}
	// GoBGP's goroutines outlive the test (Serve never returns in v3), and
	// t.Log after the test panics: stop forwarding once it is over. This
	// cleanup is registered first, so it runs last.
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

// freePort returns a TCP port that was free on ip a moment ago.
func freePort(t testing.TB, ip string) int32 {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", ip, err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// startSpeaker starts a speaker listening on ip at a free port. Another
// process may grab the port between freePort and the bind: retry then.
func startSpeaker(t testing.TB, ip, routerID string, imp ...netip.Prefix) (*Speaker, int32) {
	t.Helper()
	return startSpeakerConfig(t, ip, Config{ASN: testASN, RouterID: routerID, ImportUnicast: imp})
}

// startSpeakerConfig is startSpeaker with the rest of the Config given;
// its listen address, port and logger are filled in.
func startSpeakerConfig(t testing.TB, ip string, c Config) (*Speaker, int32) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		port := freePort(t, ip)
		c.ListenPort, c.ListenAddress = port, ip
		c.Logger = testLogger(t).With("speaker", c.RouterID)
		s, err := New(context.Background(), c)
		if err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.Stop(ctx); err != nil {
					t.Errorf("stop %s: %v", c.RouterID, err)
				}
			})
			return s, port
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			t.Fatalf("start speaker %s on %s:%d: %v", c.RouterID, ip, port, err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// imet builds an EVPN type-3 path with GoBGP's native builders, as a
// stand-in for control/evpn's translation (which imports this package).
func imet(t testing.TB, routerID string, rdIndex uint16, vni uint32, vtep string) *api.Path {
	t.Helper()
	nlri := bgp.NewEVPNMulticastEthernetTagRoute(bgp.NewRouteDistinguisherIPAddressAS(routerID, rdIndex), 0, vtep)
	p, err := apiutil.NewPath(nlri, false, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI(vtep, []bgp.AddrPrefixInterface{nlri}),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, testASN, vni, true),
			bgp.NewEncapExtended(bgp.TUNNEL_TYPE_VXLAN),
		}),
		bgp.NewPathAttributePmsiTunnel(bgp.PMSI_TUNNEL_TYPE_INGRESS_REPL, false, vni, bgp.NewIngressReplTunnelID(vtep)),
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// unicast builds an IPv4 unicast path.
func unicast(t testing.TB, prefix, nexthop string) *api.Path {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	nlri := bgp.NewIPAddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
	p, err := apiutil.NewPath(nlri, false, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeNextHop(nexthop),
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// prefixOf is the destination text GoBGP uses as key (nlri.String()).
func prefixOf(t testing.TB, p *api.Path) string {
	t.Helper()
	n, err := apiutil.GetNativeNlri(p)
	if err != nil {
		t.Fatal(err)
	}
	return n.String()
}

// recorder collects what Watch delivers.
type recorder struct {
	mu     sync.Mutex
	best   map[string]*api.Path // current best per destination
	events []string             // "add <prefix> <peer>", "del <prefix> <peer>", "eor <family> <peer>", "peer <addr> up|down"
}

func newRecorder() *recorder { return &recorder{best: map[string]*api.Path{}} }

func (r *recorder) onPath(p *api.Path) {
	n, err := apiutil.GetNativeNlri(p)
	if err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.IsWithdraw {
		delete(r.best, n.String())
		r.events = append(r.events, fmt.Sprintf("del %s %s", n, p.NeighborIp))
		return
	}
	r.best[n.String()] = p
	r.events = append(r.events, fmt.Sprintf("add %s %s", n, p.NeighborIp))
}

func (r *recorder) onEOR(family, peer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("eor %s %s", family, peer))
}

func (r *recorder) onPeer(peer string, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := "down"
	if up {
		st = "up"
	}
	r.events = append(r.events, fmt.Sprintf("peer %s %s", peer, st))
}

func (r *recorder) has(event string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e == event {
			return true
		}
	}
	return false
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func (r *recorder) bestFrom(dest string) (peer string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.best[dest]
	if !ok {
		return "", false
	}
	return p.NeighborIp, true
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "\n")
}

// watch runs s.Watch into a new recorder until the test ends.
func watch(t testing.TB, s *Speaker) *recorder {
	t.Helper()
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, r.onPath, r.onEOR, r.onPeer) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("watch: %v", err)
		}
	})
	return r
}

// peerState returns s's session state towards addr ("" if unknown).
func peerState(t testing.TB, s *Speaker, addr string) string {
	t.Helper()
	ps, err := s.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Address == addr {
			return p.State
		}
	}
	return ""
}
