package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// healBudget is how soon an object deleted by hand must be back: the
// kernel's event, not the periodic resync (30 s).
const healBudget = time.Second

// healCase is one object of the agent's deleted by hand on a host, and the
// check that it is back.
type healCase struct {
	name string
	cmd  []string // run in the host's namespace
	back func(ctx context.Context) (bool, error)
}

// TestSelfHealing deletes by hand, on one host of a real lab, one of each
// kind of object the agent owns, and asserts each is back within
// healBudget of the command, in overlay and in routed mode.
func TestSelfHealing(t *testing.T) {
	nstest.RequireTool(t, "nft")
	for _, mode := range []string{modeOverlay, modeRouted} {
		t.Run(mode, func(t *testing.T) {
			ctx := testCtx(t, 3*time.Minute)
			l := newLab(t, ctx, lab.Options{Hosts: 2, Mode: mode})
			pods := addPods(t, ctx, l, 1)
			if mode == modeRouted {
				convergeRouted(t, ctx, l)
			} else {
				converge(t, ctx, l)
			}
			h1, h2, p2 := l.Host(1), l.Host(2), pods[1]
			cases := []healCase{
				{"gateway address", []string{"ip", "addr", "del", lab.PodGateway + "/16", "dev", lab.BridgeDev}, func(ctx context.Context) (bool, error) {
					out, err := lab.IP(ctx, h1.NS, "-o", "addr", "show", "dev", lab.BridgeDev)
					return strings.Contains(out, " "+lab.PodGateway+"/"), err
				}},
				{"nft table", []string{"nft", "delete", "table", "inet", "vxbgp"}, func(context.Context) (bool, error) {
					n, err := lab.NATTable(h1.NS)
					return !n.IsZero(), err
				}},
			}
			if mode == modeRouted {
				cases = append(cases, healCase{"route", []string{"ip", "route", "del", h2.Block(), "proto", "201", "metric", "20"}, func(ctx context.Context) (bool, error) {
					routes, err := lab.AgentRoutes(ctx, h1.NS)
					_, ok := lab.FindRoute(routes, h2.Block())
					return ok, err
				}}, sysctlHealCase(h1.NS, "net/ipv4/conf/"+lab.BridgeDev+"/proxy_arp"),
					// ip_forward=0 also turns every device's forwarding off.
					sysctlHealCase(h1.NS, "net/ipv4/ip_forward", "net/ipv4/conf/"+lab.BridgeDev+"/forwarding"))
			} else {
				cases = append(cases, overlayHealCases(h1, h2.Addr, p2)...)
			}
			for _, c := range cases {
				// Wait out the echo window of the agent's own last change
				// to the object (netlinkdp's echoTTL): a hand-made change
				// within it waits for the resync.
				time.Sleep(2 * time.Second)
				d := timeHeal(t, ctx, h1.NS, c)
				t.Logf("TIMING: %s %s deleted by hand, back after %v", mode, c.name, d.Round(time.Millisecond))
				if d > healBudget {
					t.Errorf("%s: %s back after %v, want within %v", mode, c.name, d.Round(time.Millisecond), healBudget)
				}
			}
			if n, err := scrapeMetrics(ctx, h1.NS); err == nil {
				t.Logf("%s repairs: %v", mode, n.with("vxbgp_reconcile_repairs_total"))
			}
		})
	}
}

// overlayHealCases are the overlay mode's entries on h1 for p2, a pod on
// the host at vtep.
func overlayHealCases(h1 *lab.Host, vtep string, p2 *lab.Pod) []healCase {
	return []healCase{
		{"remote MAC FDB entry", []string{"bridge", "fdb", "del", p2.MAC, "dev", lab.VXLANDev, "self"}, func(ctx context.Context) (bool, error) {
			fdb, err := lab.ReadFDB(ctx, h1.NS, lab.VXLANDev)
			_, ok := lab.RemoteEntry(fdb, p2.MAC, vtep)
			return ok, err
		}},
		{"flood entry", []string{"bridge", "fdb", "del", "00:00:00:00:00:00", "dev", lab.VXLANDev, "dst", vtep, "self"}, func(ctx context.Context) (bool, error) {
			fdb, err := lab.ReadFDB(ctx, h1.NS, lab.VXLANDev)
			return slices.Contains(lab.FloodDsts(fdb), vtep), err
		}},
		{"neighbour entry", []string{"ip", "neigh", "del", p2.IP.String(), "dev", lab.BridgeDev}, func(ctx context.Context) (bool, error) {
			nb, err := lab.ReadNeigh(ctx, h1.NS, lab.BridgeDev)
			n, ok := lab.FindNeigh(nb, p2.IP.String())
			return ok && n.HasState("NOARP"), err
		}},
	}
}

// sysctlHealCase turns the sysctl at path off by hand (a write under
// /proc/sys, as sysctl -w does); it is back when it and every one of also
// read 1 again.
func sysctlHealCase(ns, path string, also ...string) healCase {
	return healCase{"sysctl " + strings.ReplaceAll(path, "/", "."), []string{"sh", "-c", "echo 0 > /proc/sys/" + path},
		func(ctx context.Context) (bool, error) {
			for _, p := range append([]string{path}, also...) {
				out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "cat", "/proc/sys/"+p).Output()
				if err != nil || strings.TrimSpace(string(out)) != "1" {
					return false, err
				}
			}
			return true, nil
		}}
}

// timeHeal checks c's object is there, runs c's command in ns and returns
// how long after the command started the object was back.
func timeHeal(t *testing.T, ctx context.Context, ns string, c healCase) time.Duration {
	t.Helper()
	if ok, err := c.back(ctx); !ok || err != nil {
		t.Fatalf("%s: not there before the test (%v)", c.name, err)
	}
	start := time.Now()
	inNS(t, ctx, ns, c.cmd...)
	wctx, cancel := context.WithTimeout(ctx, 40*time.Second) // beyond the resync: report the real time
	defer cancel()
	must(t, lab.Eventually(wctx, c.name+" back", 5*time.Millisecond, c.back))
	return time.Since(start)
}

// TestSelfHealingFight: something deleting one of the agent's FDB entries
// every 50 ms for 3 s does not make the agent spin (its reconciler passes
// stay bounded), and the entry is back once the fight stops.
func TestSelfHealingFight(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	l := newLab(t, ctx, lab.Options{Hosts: 2})
	pods := addPods(t, ctx, l, 1)
	converge(t, ctx, l)
	h1, h2, p2 := l.Host(1), l.Host(2), pods[1]
	c := overlayHealCases(h1, h2.Addr, p2)[0]
	time.Sleep(2 * time.Second) // past the echo window of the agent's own change
	before, err := scrapeMetrics(ctx, h1.NS)
	must(t, err)
	const fight, every = 3 * time.Second, 50 * time.Millisecond
	start := time.Now()
	deletes := 0
	for time.Since(start) < fight {
		// Ignore failures: the entry may be gone already.
		_ = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h1.NS}, c.cmd...)...).Run()
		deletes++
		time.Sleep(every)
	}
	stopped := time.Now()
	after, err := scrapeMetrics(ctx, h1.NS)
	must(t, err)
	passes := after.value("vxbgp_reconcile_passes_total") - before.value("vxbgp_reconcile_passes_total")
	repairs := after.value(`vxbgp_reconcile_repairs_total{kind="fdb"}`) - before.value(`vxbgp_reconcile_repairs_total{kind="fdb"}`)
	t.Logf("TIMING: fight of %v (%d deletes, one per %v): %v reconcile passes, %v fdb repairs", fight, deletes, every, passes, repairs)
	if passes >= 50 {
		t.Errorf("%v reconcile passes during a %v fight, want fewer than 50", passes, fight)
	}
	if repairs < 1 {
		t.Errorf("no fdb repair counted during the fight")
	}
	checkPeerMetrics(t, after, h2.Addr)
	wctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	must(t, lab.Eventually(wctx, c.name+" back after the fight", 5*time.Millisecond, c.back))
	t.Logf("TIMING: %s back %v after the fight stopped", c.name, time.Since(stopped).Round(time.Millisecond))
	// The agent says so, once per interval, not once per repair.
	if out := logLines(h1.LogPath, "keeps changing behind our back"); out == 0 {
		t.Errorf("the agent did not log that it slowed down its repairs")
	} else {
		t.Logf("backoff warnings logged: %d", out)
	}
}

// checkPeerMetrics checks, on a scrape of a converged overlay host, the
// series the real speaker and reconciler feed: peer's session up with its
// source, EVPN routes both ways, reconcile passes and installs timed.
func checkPeerMetrics(t *testing.T, m metricsText, peer string) {
	t.Helper()
	up := 0
	for k, v := range m {
		if strings.HasPrefix(k, `vxbgp_bgp_session_up{peer="`+peer+`",`) && !strings.HasSuffix(k, `source=""}`) && v == 1 {
			up++
		}
	}
	if up != 1 {
		t.Errorf("no vxbgp_bgp_session_up{peer=%q,...,source=...} 1: %s", peer, m.with("vxbgp_bgp_session_up"))
	}
	for _, series := range []string{
		`vxbgp_bgp_routes_received{family="l2vpn-evpn",peer="` + peer + `"}`,
		`vxbgp_bgp_routes_advertised{family="l2vpn-evpn",peer="` + peer + `"}`,
		"vxbgp_reconcile_duration_seconds_count", "vxbgp_reconcile_latency_seconds_count",
	} {
		if m.value(series) < 1 {
			t.Errorf("%s = %v, want at least 1", series, m.value(series))
		}
	}
	t.Logf("peer %s: %s; %s", peer, m.with("vxbgp_bgp_routes_"), m.with("vxbgp_build_info"))
	t.Logf("TIMING: reconcile passes %.1f ms on average, desired state to kernel %.1f ms on average (%v installs)",
		1000*m.value("vxbgp_reconcile_duration_seconds_sum")/m.value("vxbgp_reconcile_duration_seconds_count"),
		1000*m.value("vxbgp_reconcile_latency_seconds_sum")/m.value("vxbgp_reconcile_latency_seconds_count"),
		m.value("vxbgp_reconcile_latency_seconds_count"))
}

// inNS runs a command in ns, failing the test if it fails.
func inNS(t *testing.T, ctx context.Context, ns string, argv ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v in %s: %v\n%s", argv, ns, err, out)
	}
}

// metricsText is a /metrics scrape, by series ("name{labels}") to value.
type metricsText map[string]float64

func (m metricsText) value(series string) float64 { return m[series] }

// with lists the series of a metric, for the log.
func (m metricsText) with(name string) string {
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, name) {
			out = append(out, fmt.Sprintf("%s %v", strings.TrimPrefix(k, name), v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// scrapeMetrics reads the agent's /metrics in ns (the lab's listener,
// 127.0.0.1:9642 in every host's namespace).
func scrapeMetrics(ctx context.Context, ns string) (metricsText, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer h.Close()
	var conn net.Conn
	if err := nstest.Do(h, func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 2 * time.Second}).Dial("tcp", "127.0.0.1:9642")
		return err
	}); err != nil {
		return nil, err
	}
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:9642/metrics", nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (metricsText, error) {
	m := metricsText{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// logLines counts the lines of the log at path that contain sub.
func logLines(path, sub string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), sub)
}
