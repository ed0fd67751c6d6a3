package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// Discovery: hosts that know one seed (h1's underlay address)
// and list no BGP peer find each other by gossip and peer; a host that
// dies is masked on the others, an agent that restarts is not.

// newFleet builds a discovery lab (opts.Discovery is set here) with one pod
// per host, and waits until every host lists every other alive and
// unmasked, every session is up and every FDB (routed: every routing
// table) is complete.
func newFleet(t *testing.T, ctx context.Context, opts lab.Options) (*lab.Lab, []*lab.Pod) {
	t.Helper()
	opts.Discovery = true
	l := newLab(t, ctx, opts)
	d, err := l.WaitMembers(ctx, l.Hosts...)
	must(t, err)
	t.Logf("TIMING: %d hosts list each other alive %v after their agents were ready", len(l.Hosts), d.Round(time.Millisecond))
	pods := addPods(t, ctx, l, 1)
	if opts.Mode == modeRouted {
		convergeRouted(t, ctx, l)
	} else {
		converge(t, ctx, l)
	}
	return l, pods
}

// TestDiscoveryFiveHosts: five hosts whose configs hold one seed and no
// BGP peer. Every host lists all five members with what each announces
// (address, ASN, mode, block), alive and unmasked, itself marked self; every
// host has the four others as established "discovered" peers; all 20
// ordered pod pairs ping.
func TestDiscoveryFiveHosts(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	start := time.Now()
	l, pods := newFleet(t, ctx, lab.Options{Hosts: 5})
	for _, h := range l.Hosts {
		c := h.Config
		if len(c.BGP.Peers) != 0 || c.Discovery == nil || !slices.Equal(c.Discovery.Join, []string{l.Host(1).Addr}) {
			t.Fatalf("%s's config: bgp.peers %v, discovery %+v; want no peer and one seed %s", h.Name, c.BGP.Peers, c.Discovery, l.Host(1).Addr)
		}
	}
	for _, h := range l.Hosts {
		ms, err := h.Members(ctx)
		must(t, err)
		checkMembers(t, l, h, ms)
		peers, err := h.Peers(ctx)
		must(t, err)
		var got []string
		for _, p := range peers {
			if p.Source != "discovered" || !strings.EqualFold(p.State, "established") {
				t.Errorf("%s: peer %s source %q state %q, want discovered and established", h.Name, p.Address, p.Source, p.State)
			}
			got = append(got, p.Address)
		}
		var want []string
		for _, o := range l.Hosts {
			if o != h {
				want = append(want, o.Addr)
			}
		}
		if !sameSet(got, want) {
			t.Errorf("%s: peers %v, want %v", h.Name, got, want)
		}
	}
	pingEveryPair(t, ctx, lab.PodEndpoints(pods), 20, "discovery, 5 hosts")
	t.Logf("TIMING: 5-host discovery lab built, converged and pinged in %v", time.Since(start).Round(time.Millisecond))
}

// checkMembers checks h's `vxbgpctl members -o json` against the lab: one
// entry per host with its name, address, ASN, mode and block, alive and
// unmasked, self only for h.
func checkMembers(t *testing.T, l *lab.Lab, h *lab.Host, ms []localapi.Member) {
	t.Helper()
	if len(ms) != len(l.Hosts) {
		t.Errorf("%s lists %d members, want %d: %+v", h.Name, len(ms), len(l.Hosts), ms)
	}
	for _, o := range l.Hosts {
		i := slices.IndexFunc(ms, func(m localapi.Member) bool { return m.NodeName == o.Name })
		if i < 0 {
			t.Errorf("%s does not list %s: %+v", h.Name, o.Name, ms)
			continue
		}
		m := ms[i]
		want := localapi.Member{NodeName: o.Name, Address: o.Addr, ASN: lab.ASN, Mode: l.Host(1).Config.Mode,
			Blocks: []string{o.Block()}, State: "alive", Self: o == h}
		if !slices.Equal(m.Blocks, want.Blocks) || m.NodeName != want.NodeName || m.Address != want.Address || m.ASN != want.ASN ||
			m.Mode != want.Mode || m.State != want.State || m.Masked || m.Self != want.Self {
			t.Errorf("%s lists %+v, want %+v", h.Name, m, want)
		}
	}
}

// TestDiscoveryNewHost: a fourth host, configured with the seed only, is
// added to a running 3-host lab. From the start of its agent, the time
// until each other host has its pod's FDB entry and until each other
// host's pod gets the first answer from it (pings every 20 ms; the pod is
// made as soon as the agent answers, as a runtime would) are reported:
// the target is 3 s. Then every host lists the four, all sessions are up
// and all 12 pairs ping.
func TestDiscoveryNewHost(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	l, pods := newFleet(t, ctx, lab.Options{Hosts: 3})
	h4, err := l.AddHost(ctx)
	must(t, err)
	watches := make([]*lab.FDBWatch, len(pods))
	for i, p := range pods {
		watches[i], err = lab.WatchFDB(p.Host.NS)
		must(t, err)
		defer watches[i].Close()
	}
	startAt := time.Now()
	must(t, h4.Start(ctx))
	ready := time.Since(startAt)
	p4, err := l.Pod(ctx, h4, "h4p1")
	must(t, err)
	added := time.Since(startAt)
	pingers := make([]*lab.LossPing, len(pods))
	for i, p := range pods {
		pingers[i], err = lab.StartLossPing(ctx, p.NS, p4.IP.String(), 20*time.Millisecond, 2*time.Minute)
		must(t, err)
		defer pingers[i].Stop()
	}
	t.Logf("TIMING: new host %s: agent ready %v after its start, pod %s made (CNI ADD returned) %v after",
		h4.Name, ready.Round(time.Millisecond), p4.Name, added.Round(time.Millisecond))
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var lastFDB, lastReach time.Duration
	for i, p := range pods {
		at, err := watches[i].WaitAdded(wctx, p4.MAC, h4.Addr)
		if err != nil {
			t.Errorf("%s: no FDB entry for %s: %v", p.Host.Name, p4.Name, err)
			continue
		}
		first, err := pingers[i].WaitFirstReply(wctx)
		if err != nil {
			t.Errorf("%s -> %s: %v", p.Name, p4.Name, err)
			continue
		}
		fdb, reach := at.Sub(startAt), first.Sub(startAt)
		t.Logf("TIMING: new host's agent start -> FDB entry for %s on %s %v, first answer to %s %v",
			p4.Name, p.Host.Name, fdb.Round(time.Millisecond), p.Name, reach.Round(time.Millisecond))
		lastFDB, lastReach = max(lastFDB, fdb), max(lastReach, reach)
	}
	if t.Failed() {
		t.FailNow()
	}
	verdict := "met"
	if lastReach > newHostTarget {
		verdict = "MISSED"
	}
	t.Logf("TIMING: new host's agent start -> every other host has its pod's FDB entry: %v; every other host's pod reaches it: %v (target %v: %s)",
		lastFDB.Round(time.Millisecond), lastReach.Round(time.Millisecond), newHostTarget, verdict)

	_, err = l.WaitMembers(wctx, l.Hosts...)
	must(t, err)
	converge(t, ctx, l)
	pingEveryPair(t, ctx, lab.PodEndpoints(l.Pods()), 12, "after "+h4.Name+" joined")
}

// newHostTarget is the target for a new host's pods to be reachable
// from every other host, from its agent's start.
const newHostTarget = 3 * time.Second

// TestDiscoveryWrongKey: three hosts share a gossip key; a fourth with
// another key is started with the same seed. It is not admitted: the
// three list only themselves and have no session with it, it lists only
// itself, and its log says why (no key of its could decrypt the seed's
// answer); the seed's log says it could not decrypt the stranger's.
func TestDiscoveryWrongKey(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	must(t, os.WriteFile(wrong, []byte(gossipKey(t)+"\n"), 0o600))
	l, _ := newFleet(t, ctx, lab.Options{Hosts: 3, GossipKey: gossipKey(t), Configure: func(h *lab.Host, c *lab.HostConfig) {
		if h.Index == 4 {
			c.Discovery.SecretKeyFile = wrong
		}
	}})
	// The fleet's members log every message of h4 they cannot decrypt.
	l.ExpectErrors("no installed keys could decrypt the message")
	fleet := slices.Clone(l.Hosts)
	h4, err := l.AddHost(ctx)
	must(t, err)
	must(t, h4.Start(ctx))
	const why = "no installed keys could decrypt the message"
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = lab.Eventually(wctx, h4.Name+"'s log to say why it is alone", 100*time.Millisecond, func(context.Context) (bool, error) {
		return logHas(h4.LogPath, "serving alone", why) != "", nil
	})
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, l.LogTail(30))
	}
	t.Logf("%s's log: %s", h4.Name, logHas(h4.LogPath, "serving alone", why))
	if line := logHas(l.Host(1).LogPath, why); line == "" {
		t.Errorf("the seed's log does not say %q", why)
	} else {
		t.Logf("seed's log: %s", line)
	}
	// Several join attempts and gossip rounds: nobody lets it in.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ms, err := h4.Members(ctx)
		must(t, err)
		if len(ms) != 1 || ms[0].NodeName != h4.Name || !ms[0].Self {
			t.Fatalf("%s (wrong key) lists %+v, want only itself", h4.Name, ms)
		}
		for _, h := range fleet {
			ms, err := h.Members(ctx)
			must(t, err)
			if slices.ContainsFunc(ms, func(m localapi.Member) bool { return m.NodeName == h4.Name || m.Address == h4.Addr }) {
				t.Fatalf("%s admitted %s, which has the wrong key: %+v", h.Name, h4.Name, ms)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, h := range append(fleet, h4) {
		peers, err := h.Peers(ctx)
		must(t, err)
		for _, p := range peers {
			if p.Address == h4.Addr || h == h4 {
				t.Errorf("%s has a BGP peer %s across the wrong key", h.Name, p.Address)
			}
		}
	}
}

// gossipKey is a fresh base64 AES-256 key.
func gossipKey(t *testing.T) string {
	var k [32]byte
	_, err := rand.Read(k[:])
	must(t, err)
	return base64.StdEncoding.EncodeToString(k[:])
}

// logHas returns the first line of the file at path holding every one of
// subs, or "".
func logHas(path string, subs ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if !slices.ContainsFunc(subs, func(s string) bool { return !strings.Contains(line, s) }) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
