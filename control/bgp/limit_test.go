package bgp_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/internal/testlog"
)

// maxPrefixes over a real session: b accepts at most 5 routes from a.
// With 5 the session stays up; a sixth closes it with a Cease (a sees the
// NOTIFICATION: a Cease, as Hard Reset), b logs and counts it, holds a down and enables it again
// after PrefixLimitRestart (1 s here); a still sends 6, so it is closed
// again; once a sends 4 the session comes back and stays.
func TestMaxPrefixes(t *testing.T) {
	var alog, blog testlog.Buffer
	logger := func(b *testlog.Buffer) *slog.Logger {
		return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a := newNodeConfig(t, "127.0.0.191", bgp.Config{ASN: bgptest.ASN, RouterID: "10.0.0.191", Logger: logger(&alog)})
	b := newNodeConfig(t, "127.0.0.192", bgp.Config{ASN: bgptest.ASN, RouterID: "10.0.0.192", Logger: logger(&blog),
		PrefixLimitRestart: time.Second})
	reg := prometheus.NewRegistry()
	b.Register(reg, nil)
	defer func() {
		if t.Failed() {
			t.Logf("a's log:\n%s\nb's log:\n%s", alog.String(), blog.String())
		}
	}()
	ctx := context.Background()
	limited := b.PassivePeerConfig(a)
	limited.MaxPrefixes = 5
	if err := b.SetPeers(ctx, []bgp.PeerConfig{limited}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPeers(ctx, []bgp.PeerConfig{a.PeerConfig(b)}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := a.AddPath(ctx, imet(t, a.RouterID, uint16(i+1), 100, a.IP)); err != nil {
			t.Fatal(err)
		}
	}
	received := func() uint64 {
		ps, err := b.Peers(ctx)
		if err != nil || len(ps) != 1 {
			t.Fatalf("b's peers %v %v", ps, err)
		}
		return ps[0].Received
	}
	bgptest.WaitFor(t, "b to receive a's 5 routes", bgptest.SessionTimeout, func() bool { return received() == 5 })
	if st := b.LimitStats(); st.Exceeded != 0 {
		t.Fatalf("limit tripped at 5 routes of 5: %+v", st)
	}

	sixth := imet(t, a.RouterID, 6, 100, a.IP)
	if err := a.AddPath(ctx, sixth); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bgptest.WaitFor(t, "b to close the session", bgptest.SessionTimeout, func() bool { return b.LimitStats().Exceeded >= 1 })
	if st := peerState(t, b.Speaker, a.IP); st == "established" {
		t.Errorf("b's session with a is %s after the limit tripped", st)
	}
	bgptest.WaitFor(t, "b's last error of a to name the limit", bgptest.SessionTimeout, func() bool {
		return strings.Contains(peerOf(t, b.Speaker, a.IP).LastError, "maximum number of prefixes reached")
	})
	t.Logf("b's last error of a: %q", peerOf(t, b.Speaker, a.IP).LastError)
	bgptest.WaitFor(t, "a to see the Cease", bgptest.SessionTimeout, func() bool {
		return strings.Contains(alog.String(), "received notification")
	})
	for _, l := range strings.Split(alog.String(), "\n") {
		if strings.Contains(l, "received notification") {
			t.Logf("a: %s", l)
			// Cease (6), Hard Reset (9) in place of Maximum Number of
			// Prefixes Reached (1): a negotiated the N bit (RFC 8538),
			// so it drops b's routes rather than keeping them stale.
			if !strings.Contains(l, "code=6") || !strings.Contains(l, "subcode=9") {
				t.Errorf("a got no Cease: %s", l)
			}
			break
		}
	}
	if !strings.Contains(blog.String(), "sent more routes than its maxPrefixes") || !strings.Contains(blog.String(), "maxPrefixes=5") {
		t.Errorf("b did not log the limit with its value")
	}
	if got := metricValue(t, reg, "vxbgp_bgp_max_prefixes_exceeded_total"); got < 1 {
		t.Errorf("vxbgp_bgp_max_prefixes_exceeded_total = %v, want >= 1", got)
	}
	// Enabled again after ~1 s, closed again: a still sends 6.
	bgptest.WaitFor(t, "the limit to trip again after the restart delay", 10*time.Second, func() bool {
		return b.LimitStats().Exceeded >= 2
	})
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("peer enabled again %v after the limit, want the 1 s delay", d)
	}
	t.Logf("limit tripped twice in %v (restart delay 1 s)", time.Since(start).Round(time.Millisecond))

	for _, i := range []uint16{5, 6} {
		if err := a.DeletePath(ctx, imet(t, a.RouterID, i, 100, a.IP)); err != nil {
			t.Fatal(err)
		}
	}
	bgptest.WaitFor(t, "the session back with 4 routes", 10*time.Second, func() bool {
		return peerState(t, b.Speaker, a.IP) == "established" && received() == 4
	})
	n := b.LimitStats().Exceeded
	time.Sleep(2 * time.Second)
	if st := b.LimitStats(); st.Exceeded != n || st.Held != 0 || peerState(t, b.Speaker, a.IP) != "established" {
		t.Errorf("within the limit, the session did not stay up: %+v, state %s", st, peerState(t, b.Speaker, a.IP))
	}
	if got := metricValue(t, reg, "vxbgp_bgp_peers_prefix_limited"); got != 0 {
		t.Errorf("vxbgp_bgp_peers_prefix_limited = %v, want 0", got)
	}
}

// metricValue reads a metric without labels from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A peer that sets no limit gets DefaultMaxPrefixes, one that does keeps
// its own.
func TestMaxPrefixesDefault(t *testing.T) {
	for _, c := range []struct{ set, want uint32 }{{0, bgp.DefaultMaxPrefixes}, {7, 7}} {
		n, err := bgp.Normalize(bgp.PeerConfig{Address: "10.0.0.2", ASN: 64512, MaxPrefixes: c.set})
		if err != nil || n.MaxPrefixes != c.want {
			t.Errorf("maxPrefixes %d normalized to %d (%v), want %d", c.set, n.MaxPrefixes, err, c.want)
		}
	}
}
