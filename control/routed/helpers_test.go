package routed

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/overlay"
)

const (
	testASN        = bgptest.ASN
	sessionTimeout = bgptest.SessionTimeout
)

var (
	subnet4 = netip.MustParsePrefix("10.244.0.0/16")
	subnet6 = netip.MustParsePrefix("fd00:10:244::/48")

	// dualStack are the families routed-mode hosts peer with.
	dualStack = []string{bgp.FamilyIPv4, bgp.FamilyIPv6}
)

// newSpeaker starts a speaker that imports unicast routes inside orLonger
// and equal to exact, like a host of Config{Subnets: orLonger,
// ImportPrefixes: exact}.
func newSpeaker(t testing.TB, name, ip, rid string, asn uint32, orLonger, exact []netip.Prefix) *bgptest.Speaker {
	t.Helper()
	return bgptest.Start(t, name, ip, bgp.Config{ASN: asn, RouterID: rid, ImportUnicast: orLonger, ImportExact: exact})
}

// host is a speaker with a Source, and the snapshots it published.
type host struct {
	*bgptest.Speaker
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
	return hostOn(t, newSpeaker(t, name, ip, rid, asn, c.Subnets, c.ImportPrefixes), c)
}

// hostOn builds a host's Source from c on speaker s.
func hostOn(t testing.TB, s *bgptest.Speaker, c Config) *host {
	h := &host{Speaker: s}
	c.Logger = bgptest.Logger(t).With("host", s.Name)
	h.src = NewSource(c, s.Speaker, h.record)
	return h
}

// run starts h's Source and waits until it is Ready.
func (h *host) run(t testing.TB) *host {
	t.Helper()
	h.stop = bgptest.RunSource(t, h.Name, h.Speaker.Speaker, h.src.Handler(), h.src.Run) // in cleanup, before the speaker's Stop
	select {
	case <-h.src.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Source not ready", h.Name)
	}
	return h
}

// record keeps the routes as of each published change (the Source
// publishes changes: a table is what they add up to).
func (h *host) record(d overlay.Delta) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[netip.Prefix]overlay.Route{}
	if n := len(h.history); n > 0 {
		m = maps.Clone(h.history[n-1])
	}
	st := overlay.State{Routes: m}
	st.ApplyDelta(d)
	h.history = append(h.history, st.Routes)
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
			t.Fatalf("%s: %s routes\n%s\nwant\n%s", what, h.Name, h.routes(), exp)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
