package agent

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// scrape is one /metrics answer: the series ("name{labels}", labels as
// the exposition sorts them) with their values, and the metric types.
type scrape struct {
	series map[string]float64
	types  map[string]string
	text   string
}

func scrapeMetrics(t *testing.T, listen string) scrape {
	t.Helper()
	text := get(t, http.DefaultClient, "http://"+listen+"/metrics")
	s := scrape{series: map[string]float64{}, types: map[string]string{}, text: text}
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			s.types[f[2]] = f[3]
		}
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		s.series[l[:i]] = v
	}
	return s
}

// has reports whether the series has the value.
func (s scrape) has(series string, v float64) bool {
	got, ok := s.series[series]
	return ok && got == v
}

// The agent's /metrics, scraped over HTTP from its real listener, with the
// fake speaker and kernel underneath: names, label names and values of
// the per-peer, IPAM, reconcile and build series, and that they follow
// what happens (a session going up and down, pods allocated, a failing
// kernel operation).
func TestMetricsScrape(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", bgptest.FreePort(t, "127.0.0.1"))
	storeEndpoint(t, cfg, "stored", "02:00:00:00:01:01", "10.244.1.11")
	store, err := ipam.Open(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	block := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}
	for _, id := range []string{"a", "b"} {
		if _, err := store.Allocate("pods", block, []netip.Addr{netip.MustParseAddr("10.244.0.1")}, ipam.Owner{ContainerID: id, IfName: "eth0"}); err != nil {
			t.Fatal(err)
		}
	}
	dp := overlaytest.New()
	r := startAgent(t, cfg, dp)
	bgptest.WaitFor(t, "the metrics listener", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", cfg.Metrics.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	up := fmt.Sprintf(`vxbgp_bgp_session_up{peer=%q,peer_asn="64512",source="static"}`, peerAddr)
	m := scrapeMetrics(t, cfg.Metrics.Listen)
	build := fmt.Sprintf(`vxbgp_build_info{goversion=%q,mode="overlay",version=%q}`, runtime.Version(), Version)
	for series, v := range map[string]float64{
		build:                         1,
		up:                            0, // the fake's session is not up yet
		"vxbgp_bgp_peers_established": 0,
		// /24: 254 usable, the gateway outside the block; 3 pods.
		`vxbgp_ipam_addresses_used{family="ipv4",network="pods"}`: 3,
		`vxbgp_ipam_addresses_free{family="ipv4",network="pods"}`: 251,
		// the fake kernel reads in no time: the default period
		"vxbgp_reconcile_resync_interval_seconds": 30,
	} {
		if !m.has(series, v) {
			t.Errorf("want %s %v; got %v (present: %t)", series, v, m.series[series], m.series[series] != 0 || m.has(series, 0))
		}
	}
	for name, typ := range map[string]string{
		"vxbgp_build_info": "gauge", "vxbgp_bgp_session_up": "gauge", "vxbgp_ipam_addresses_used": "gauge",
		"vxbgp_ipam_addresses_free": "gauge", "vxbgp_reconcile_duration_seconds": "histogram",
		"vxbgp_reconcile_latency_seconds": "histogram", "vxbgp_reconcile_errors_total": "counter",
		"vxbgp_reconcile_resync_interval_seconds": "gauge",
	} {
		if m.types[name] != typ {
			t.Errorf("%s: type %q, want %s", name, m.types[name], typ)
		}
	}
	for _, kind := range overlay.ErrorKinds() { // every kind present from the start, so rate() works
		if !m.has(fmt.Sprintf(`vxbgp_reconcile_errors_total{kind=%q}`, kind), 0) {
			t.Errorf("no vxbgp_reconcile_errors_total{kind=%q} 0", kind)
		}
	}
	if m.series["vxbgp_reconcile_duration_seconds_count"] == 0 {
		t.Error("no reconcile pass in vxbgp_reconcile_duration_seconds")
	}

	// The session comes up with routes per family, then drops.
	r.sp.PeerUp(peerAddr)
	r.sp.SetPeerStatus(peerAddr, []bgp.FamilyStatus{
		{Family: "ipv4-unicast", Received: 3, Accepted: 2, Advertised: 1},
		{Family: "l2vpn-evpn", Received: 7, Accepted: 7, Advertised: 4},
	}, "")
	m = scrapeMetrics(t, cfg.Metrics.Listen)
	for series, v := range map[string]float64{
		up:                            1,
		"vxbgp_bgp_peers_established": 1,
		fmt.Sprintf(`vxbgp_bgp_routes_received{family="ipv4-unicast",peer=%q}`, peerAddr):   3,
		fmt.Sprintf(`vxbgp_bgp_routes_accepted{family="ipv4-unicast",peer=%q}`, peerAddr):   2,
		fmt.Sprintf(`vxbgp_bgp_routes_advertised{family="ipv4-unicast",peer=%q}`, peerAddr): 1,
		fmt.Sprintf(`vxbgp_bgp_routes_received{family="l2vpn-evpn",peer=%q}`, peerAddr):     7,
		fmt.Sprintf(`vxbgp_bgp_routes_advertised{family="l2vpn-evpn",peer=%q}`, peerAddr):   4,
	} {
		if !m.has(series, v) {
			t.Errorf("session up: want %s %v, got %v", series, v, m.series[series])
		}
	}
	r.sp.PeerDown(peerAddr)
	if m = scrapeMetrics(t, cfg.Metrics.Listen); !m.has(up, 0) || !m.has("vxbgp_bgp_peers_established", 0) {
		t.Errorf("session down: %s %v, established %v", up, m.series[up], m.series["vxbgp_bgp_peers_established"])
	}

	// A received route reaches the kernel: one measured install.
	latency := m.series["vxbgp_reconcile_latency_seconds_count"]
	r.sp.Deliver(remoteType2(t, "02:00:00:00:02:01", "10.244.2.1", false))
	kernelHas(t, dp, "the peer's pod in the kernel", []string{fdb("02:00:00:00:02:01")}, nil)
	bgptest.WaitFor(t, "the install measured", 5*time.Second, func() bool {
		return scrapeMetrics(t, cfg.Metrics.Listen).series["vxbgp_reconcile_latency_seconds_count"] > latency
	})

	// A kernel refusing FDB entries: counted as fdb errors.
	dp.FailOn(func(o overlay.Op) bool { return o.FDB != nil })
	r.sp.Deliver(remoteType2(t, "02:00:00:00:02:02", "10.244.2.2", false))
	bgptest.WaitFor(t, "the fdb failure counted", 5*time.Second, func() bool {
		return scrapeMetrics(t, cfg.Metrics.Listen).series[`vxbgp_reconcile_errors_total{kind="fdb"}`] > 0
	})
	dp.FailOn(nil)
	kernelHas(t, dp, "the entry after the failure cleared", []string{fdb("02:00:00:00:02:02")}, nil)
	m = scrapeMetrics(t, cfg.Metrics.Listen)
	if m.series[`vxbgp_reconcile_errors_total{kind="route"}`] != 0 || m.series[`vxbgp_reconcile_errors_total{kind="observe"}`] != 0 {
		t.Errorf("errors of other kinds counted: %v", m.series)
	}
	var vxbgp []string
	for k := range m.series {
		if strings.HasPrefix(k, "vxbgp_") && !strings.Contains(k, "_bucket") {
			vxbgp = append(vxbgp, k)
		}
	}
	slices.Sort(vxbgp)
	t.Logf("%d vxbgp series (buckets left out):\n%s", len(vxbgp), strings.Join(vxbgp, "\n"))
}
