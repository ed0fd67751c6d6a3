package routed

import (
	"context"
	"errors"
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
	"github.com/vxbgp/vxbgp/overlay"
)

const (
	testASN        = 64512
	sessionTimeout = 20 * time.Second
)

var (
	subnet4 = netip.MustParsePrefix("10.244.0.0/16")
	subnet6 = netip.MustParsePrefix("fd00:10:244::/48")
)

// testLogger logs into the test (shown with -v or on failure) until the
// test ends: GoBGP's goroutines outlive it, and t.Log afterwards panics.
// VXBGP_TEST_LOG=debug shows everything.
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// speaker is a BGP speaker under test on a loopback address: a host's, or
// a bare one standing in for a router.
type speaker struct {
	name, ip string
	asn      uint32
	port     int32
	sp       *bgp.Speaker
}

// newSpeaker starts a speaker that imports unicast routes inside orLonger
// and equal to exact, like a host of Config{Subnets: orLonger,
// ImportPrefixes: exact}. port -1: it does not listen.
func newSpeaker(t testing.TB, name, ip, rid string, asn uint32, orLonger, exact []netip.Prefix) *speaker {
	t.Helper()
	s := &speaker{name: name, ip: ip, asn: asn}
	for attempt := 0; ; attempt++ {
		s.port = freePort(t, ip)
		sp, err := bgp.New(context.Background(), bgp.Config{ASN: asn, RouterID: rid, ListenPort: s.port, ListenAddress: ip,
			Logger: testLogger(t).With("speaker", name), ImportUnicast: orLonger, ImportExact: exact})
		if err == nil {
			s.sp = sp
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			t.Fatalf("start %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.sp.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return s
}

// peerOf is how from configures s.
func (s *speaker) peerOf(from *speaker, passive bool) bgp.PeerConfig {
	return bgp.PeerConfig{Address: s.ip, ASN: s.asn, Port: uint16(s.port), LocalAddress: from.ip,
		Families: []string{bgp.FamilyIPv4, bgp.FamilyIPv6}, Passive: passive}
}

// peer configures sessions from s to every other speaker; of each pair
// the higher address is passive (see bgp.PeerConfig.Passive).
func (s *speaker) peer(t testing.TB, others ...*speaker) {
	t.Helper()
	var ps []bgp.PeerConfig
	for _, o := range others {
		passive := netip.MustParseAddr(s.ip).Compare(netip.MustParseAddr(o.ip)) > 0
		ps = append(ps, o.peerOf(s, passive))
	}
	if err := s.sp.SetPeers(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
}

func (s *speaker) add(t testing.TB, prefix, nexthop string) {
	t.Helper()
	if err := s.sp.AddUnicast(context.Background(), netip.MustParsePrefix(prefix), netip.MustParseAddr(nexthop)); err != nil {
		t.Fatal(err)
	}
}

// host is a speaker with a Source, and the snapshots it published.
type host struct {
	*speaker
	src  *Source
	stop func() // stops Run (the speaker is stopped in cleanup)

	mu      sync.Mutex
	history []map[netip.Prefix]overlay.Route
}

// newHost starts a host's speaker, which imports c.Subnets and
// c.ImportPrefixes as the agent configures it, and builds its Source; run
// starts the Source. GoBGP v3 keeps route-selection options in package
// variables that every StartBgp writes and every watch and route update
// reads (server.go:2470, table_manager.go:309): start all speakers of a
// test before any Source runs, and never run such tests in parallel.
func newHost(t testing.TB, name, ip, rid string, asn uint32, c Config) *host {
	t.Helper()
	h := &host{speaker: newSpeaker(t, name, ip, rid, asn, c.Subnets, c.ImportPrefixes)}
	c.Logger = testLogger(t).With("host", name)
	h.src = NewSource(c, h.sp, h.record)
	return h
}

// run starts h's Source and waits until it is Ready.
func (h *host) run(t testing.TB) *host {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.src.Run(ctx) }()
	var once sync.Once
	name := h.name
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		})
	}
	t.Cleanup(h.stop) // runs before the speaker's Stop
	select {
	case <-h.src.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Source not ready", name)
	}
	return h
}

func (h *host) record(m map[netip.Prefix]overlay.Route) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, m)
}

// routes renders the latest snapshot, one route per line, sorted.
func (h *host) routes() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.history) == 0 {
		return "(nothing published)"
	}
	return render(h.history[len(h.history)-1])
}

func render(m map[netip.Prefix]overlay.Route) string {
	lines := make([]string, 0, len(m))
	for k, r := range m {
		if k != r.Dst {
			lines = append(lines, "key "+k.String()+" != "+r.String())
		}
		lines = append(lines, r.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// waitRoutes waits until h's latest snapshot is exactly want, given as
// "prefix via,via" items.
func waitRoutes(t testing.TB, h *host, what string, want ...string) {
	t.Helper()
	m := map[netip.Prefix]overlay.Route{}
	for _, w := range want {
		pfx, vias, _ := strings.Cut(w, " ")
		var via []netip.Addr
		for _, v := range strings.Split(vias, ",") {
			via = append(via, netip.MustParseAddr(v))
		}
		r := overlay.NewRoute(netip.MustParsePrefix(pfx), via...)
		m[r.Dst] = r
	}
	exp := render(m)
	deadline := time.Now().Add(sessionTimeout)
	for h.routes() != exp {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s routes\n%s\nwant\n%s", what, h.name, h.routes(), exp)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rib follows a bare speaker's unicast Loc-RIB, "prefix nexthop@peer,...".
type rib struct {
	mu     sync.Mutex
	routes map[netip.Prefix][]bgp.UnicastPath
	eors   map[string]bool // "family peer"
}

func watchRIB(t testing.TB, s *speaker) *rib {
	t.Helper()
	r := &rib{routes: map[netip.Prefix][]bgp.UnicastPath{}, eors: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.sp.WatchUnicast(ctx, func(p netip.Prefix, paths []bgp.UnicastPath) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(paths) == 0 {
				delete(r.routes, p)
			} else {
				r.routes[p] = paths
			}
		}, func(family, peer string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.eors[family+" "+peer] = true
		}, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, bgp.ErrClosed) {
			t.Errorf("watch %s: %v", s.name, err)
		}
	})
	return r
}

func (r *rib) eor(family, peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eors[family+" "+peer]
}

func (r *rib) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for p, paths := range r.routes {
		var ps []string
		for _, u := range paths {
			peer := u.Peer
			if peer == "" {
				peer = "local"
			}
			ps = append(ps, u.NextHop.String()+"@"+peer)
		}
		slices.Sort(ps)
		lines = append(lines, p.String()+" "+strings.Join(ps, ","))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
