package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// Config selects what a run measures and how long.
type Config struct {
	Quick bool
	// Bulk are the sizes of the bulk convergence rows, one row each, run
	// in turn in the same lab; nil: DefaultBulk.
	Bulk    []int
	Only    []string // parts to run (see Parts); nil: all
	Self    string   // this program, run again in a namespace as the BGP speaker
	BinDir  string   // vxbgpd, vxbgpctl, vxbgp-cni
	RefCNI  string   // directory with the reference bridge and host-local plugins
	RepoDir string   // root of the vxbgp module, for the Go micro-benchmarks; "": they fail
	Logf    func(format string, args ...any)
}

// DefaultBulk are the bulk sizes of both the quick and the full run.
var DefaultBulk = []int{1000, 10000}

// Sizes per mode.
type sizes struct {
	convN, cniN int
	iperf       time.Duration
	iperfRounds int // alternating ours/ref runs; the median of each is reported
	bulk        []int
	type2       int
	blocks      int
	idle        time.Duration
	goCount     int    // go test -count
	goTime      string // go test -benchtime
}

func (c Config) sizes() sizes {
	s := sizes{convN: 50, cniN: 100, iperf: 10 * time.Second, iperfRounds: 3, bulk: DefaultBulk, type2: 100000, blocks: 1000,
		idle: 20 * time.Second, goCount: 5, goTime: "1s"}
	if c.Quick {
		s = sizes{convN: 10, cniN: 20, iperf: 3 * time.Second, iperfRounds: 1, bulk: DefaultBulk, type2: 10000, blocks: 1000,
			idle: 5 * time.Second, goCount: 1, goTime: "100ms"}
	}
	if len(c.Bulk) > 0 {
		s.bulk = c.Bulk
	}
	return s
}

// Row names, in table order; the test checks each is printed.
const (
	WhatConv    = "convergence, 1 endpoint (CNI ADD on h1 -> FDB+neigh on h2)"
	WhatCNIAdd  = "CNI ADD"
	WhatCNIDel  = "CNI DEL"
	WhatOverlay = "iperf3 TCP 1 stream, overlay pod -> pod"
	WhatRouted  = "iperf3 TCP 1 stream, routed pod -> pod"
	WhatBlocks  = "routed: blocks announced by a BGP peer until kernel routes"
	WhatRSS     = "agent idle RSS (100 local endpoints, 2 BGP peers)"
	WhatType2   = "type-2 routes from a peer until all in the kernel"
	WhatCPU     = "agent idle CPU (100 local endpoints, 2 BGP peers)"
	// Go micro-benchmarks (gobench.go).
	WhatGoDiff       = "Go: overlay.Diff, 100k FDB entries, 1% changed"
	WhatGoDecode     = "Go: decode one received type-2 path"
	WhatGoFromPaths  = "Go: 10k received paths -> overlay.State"
	WhatGoBuildState = "Go: State snapshot from a 10k-route store"
	refFRRDaemons    = "FRR zebra+bgpd"
	refFRRRouter     = "FRR 8.4 router"
	NoteOffloads     = "vxlan100 offloads"
	refFRR           = "FRR 8.4"
	refCNIName       = "bridge+host-local v1.10.0"
	refHandVXLAN     = "hand-built bridge+VXLAN"
	refRawUnderly    = "raw underlay h1->h2"
)

// WhatBulk is the name of the bulk convergence row for n endpoints; no
// name is a substring of another's.
func WhatBulk(n int) string {
	return fmt.Sprintf("convergence, bulk n=%d (endpoints on h1 until all programmed on h2)", n)
}

// Expected lists every row (and note) a complete run with the default
// sizes prints.
var Expected = []string{WhatConv, WhatCNIAdd, WhatCNIDel, WhatBulk(1000), WhatBulk(10000), WhatType2, WhatOverlay,
	WhatRSS, WhatCPU, WhatRouted, WhatBlocks, WhatGoDiff, WhatGoDecode, WhatGoFromPaths, WhatGoBuildState, NoteOffloads}

// MaxBulk is the largest bulk size: the endpoints' IPs are
// 10.244.128.1-10.244.199.250, 250 per /24.
const MaxBulk = 72 * 250

// ParseBulk parses -bulk, a comma list of sizes (at most 8, each 1..MaxBulk).
func ParseBulk(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > MaxBulk {
			return nil, fmt.Errorf("bulk size %q: want 1..%d", f, MaxBulk)
		}
		out = append(out, n)
	}
	if len(out) == 0 || len(out) > 8 {
		return nil, fmt.Errorf("bulk sizes %q: want 1 to 8 sizes", s)
	}
	return out, nil
}

// Run measures everything; a failing part becomes a row with its error so
// the rest still runs.
func Run(ctx context.Context, c Config) *Report {
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	host, _ := os.Hostname()
	rep := &Report{Start: time.Now(), Quick: c.Quick, Host: host}
	sz := c.sizes()
	if c.hasAny(PartConv, PartCNI, PartBulk, PartType2, PartOverlay, PartFootprint) {
		rows, notes := overlaySuite(ctx, c, sz)
		rep.Rows = append(rep.Rows, rows...)
		rep.Notes = append(rep.Notes, notes...)
	}
	if c.hasAny(PartRouted, PartBlocks) {
		rows, notes := routedSuite(ctx, c, sz)
		rep.Rows = append(rep.Rows, rows...)
		rep.Notes = append(rep.Notes, notes...)
	}
	// Last: compiling and running Go benchmarks would disturb the labs.
	if c.has(PartGoBench) {
		rep.Rows = append(rep.Rows, goBenchRows(ctx, c, sz)...)
	}
	rep.Duration = time.Since(rep.Start).Round(time.Second).String()
	return rep
}

func errRow(what, ref string, err error) Row {
	return Row{What: what, RefName: ref, Err: err.Error()}
}

func newLab(ctx context.Context, c Config, o lab.Options) (*lab.Lab, func(), error) {
	o.BinDir, o.Logf = c.BinDir, c.Logf
	l, err := lab.New(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return l, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := l.Close(cctx); err != nil {
			c.Logf("close lab %s: %v", l.ID, err)
		}
	}, nil
}

// frrAddr is FRR host fj's underlay address in internal/lab's scheme (checked
// once the lab is built).
func frrAddr(j int) string { return fmt.Sprintf("10.250.0.%d", 100+j) }

// overlaySuite: one lab with 2 vxbgp hosts and 2 FRR hosts for
// convergence, CNI, bulk, type-2, the overlay data plane and the idle
// footprint. Sessions are trimmed so that h1 and f1, whose footprints are
// compared, have exactly 2 peers each: h1 peers with h2 and f1, h2 with
// h1 and f2 (and the type-2 speaker); f1 with h1 and f2, f2 with h2 and
// f1 (and the speaker). Every measured path (h1 -> h2, f1 -> f2, speaker
// -> h2 and f2) keeps its session.
func overlaySuite(ctx context.Context, c Config, sz sizes) ([]Row, []string) {
	var all []string
	for _, pw := range []struct {
		part string
		what []string
	}{{PartConv, []string{WhatConv}}, {PartCNI, []string{WhatCNIAdd, WhatCNIDel}}, {PartBulk, bulkNames(sz.bulk)},
		{PartType2, []string{WhatType2}}, {PartOverlay, []string{WhatOverlay}}, {PartFootprint, []string{WhatRSS, WhatCPU}}} {
		if c.has(pw.part) {
			all = append(all, pw.what...)
		}
	}
	failAll := func(err error) ([]Row, []string) {
		var rows []Row
		for _, w := range all {
			rows = append(rows, errRow(w, "", err))
		}
		return rows, nil
	}
	l, closeLab, err := newLab(ctx, c, lab.Options{Hosts: 2, FRRHosts: 2,
		Configure: func(h *lab.Host, hc *lab.HostConfig) {
			// Host i keeps the other host and FRR host fi.
			var keep []lab.PeerConfig
			for _, p := range hc.BGP.Peers {
				if p.Address == frrAddr(3-h.Index) {
					continue
				}
				keep = append(keep, p)
			}
			hc.BGP.Peers = keep
			if h.Index == 2 && c.has(PartType2) {
				hc.BGP.Peers = append(hc.BGP.Peers, lab.PeerConfig{Address: evpnSpeaker, ASN: lab.ASN})
			}
		}})
	if err != nil {
		return failAll(err)
	}
	defer closeLab()
	// FRR host fj drops the other vxbgp host.
	for j, f := range l.FRR {
		if f.Addr != frrAddr(j+1) {
			return failAll(fmt.Errorf("lab put %s at %s, the bench expects %s", f.Name, f.Addr, frrAddr(j+1)))
		}
		if _, err := lab.RunEnv(ctx, nil, nil, "vtysh", "--vty_socket", f.Dir, "-c", "configure terminal",
			"-c", fmt.Sprintf("router bgp %d", lab.ASN), "-c", "no neighbor "+l.Host(2-j).Addr); err != nil {
			return failAll(fmt.Errorf("%s: drop neighbour %s: %w", f.Name, l.Host(2-j).Addr, err))
		}
	}
	var rows []Row
	var notes []string
	var sp *speakerProc
	var spErr error
	if c.has(PartType2) {
		if sp, spErr = startEVPNSpeaker(ctx, c, l, sz.type2); spErr == nil {
			defer sp.stop()
		}
	}
	if err := waitSessions(ctx, l, c.has(PartType2) && spErr == nil); err != nil {
		return failAll(err)
	}
	if c.has(PartConv) {
		rows = append(rows, convergence(ctx, l, sz.convN))
	}
	if c.has(PartCNI) {
		rows = append(rows, cniLatency(ctx, c, l, sz.cniN)...)
	}
	// The data plane and the footprint run before the bulk endpoints
	// exist; their rows go last.
	var dp []Row
	if c.has(PartOverlay) {
		r, n := overlayDataplane(ctx, l, sz.iperf, sz.iperfRounds)
		dp = append(dp, r)
		notes = append(notes, n...)
	}
	if c.has(PartFootprint) {
		dp = append(dp, footprint(ctx, l, sz.idle)...)
	}
	if c.has(PartBulk) {
		rows = append(rows, bulkAll(ctx, l, sz.bulk, c.Logf)...)
	}
	if c.has(PartType2) {
		if spErr != nil {
			rows = append(rows, errRow(WhatType2, refFRR, spErr))
		} else {
			rows = append(rows, type2(ctx, l, sp, sz.type2))
		}
	}
	rows = append(rows, dp...)
	return rows, notes
}

// waitSessions waits until every host's configured peers and every FRR
// host's remaining neighbours (the speaker's too, if speaker) are
// established.
func waitSessions(ctx context.Context, l *lab.Lab, speaker bool) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, h := range l.Hosts {
		if err := h.WaitPeers(ctx); err != nil {
			return err
		}
	}
	for j, f := range l.FRR {
		want := frrPeers(l, j)
		if speaker && j == 1 {
			want = append(want, evpnSpeaker)
		}
		if err := f.WaitEstablished(ctx, want...); err != nil {
			return err
		}
	}
	return nil
}

// frrPeers are the neighbours FRR host l.FRR[j] keeps: host j+1 and the
// other FRR hosts.
func frrPeers(l *lab.Lab, j int) []string {
	out := []string{l.Host(j + 1).Addr}
	for k, o := range l.FRR {
		if k != j {
			out = append(out, o.Addr)
		}
	}
	return out
}

// convergence: pod c<i> on h1 until h2 has its FDB and neighbour entries,
// interleaved with a static MAC on f1's bridge until f2 has the remote
// extern_learn entry.
func convergence(ctx context.Context, l *lab.Lab, n int) Row {
	h1, h2 := l.Host(1), l.Host(2)
	f1, f2 := l.FRR[0], l.FRR[1]
	var ours, refs []time.Duration
	for i := range n {
		d, err := podConvergence(ctx, l, h1, h2, fmt.Sprintf("c%d", i))
		if err != nil {
			return errRow(WhatConv, refFRR, err)
		}
		ours = append(ours, d)
		d, err = frrConvergence(ctx, f1, f2, fmt.Sprintf("02:be:00:00:%02x:%02x", i>>8, i&0xff))
		if err != nil {
			return errRow(WhatConv, refFRR, err)
		}
		refs = append(refs, d)
	}
	r := latencyRow(WhatConv, refFRR, ours, refs)
	r.Note = "ref: `bridge fdb add MAC dev s1 master static` on f1 -> extern_learn FDB entry on f2 (FRR installs no neigh here)"
	return r
}

func podConvergence(ctx context.Context, l *lab.Lab, from, to *lab.Host, name string) (time.Duration, error) {
	w, err := watchKernel(to.NS)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The clock starts when CNI ADD is exec'd, as the issue defines it:
	// creating the pod's netns is the runtime's work before the ADD.
	p, err := l.Pod(ctx, from, name)
	if err != nil {
		return 0, err
	}
	tf, err := w.WaitFDB(ctx, p.MAC, from.Addr)
	if err != nil {
		return 0, err
	}
	tn, err := w.WaitNeigh(ctx, p.IP.String(), p.MAC)
	if err != nil {
		return 0, err
	}
	if tn.After(tf) {
		tf = tn
	}
	return tf.Sub(p.AddStart), nil
}

func frrConvergence(ctx context.Context, from, to *lab.FRRHost, mac string) (time.Duration, error) {
	w, err := watchKernel(to.NS)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := lab.Bridge(ctx, from.NS, "fdb", "add", mac, "dev", "s1", "master", "static"); err != nil {
		return 0, err
	}
	t, err := w.WaitFDB(ctx, mac, from.Addr)
	if err != nil {
		return 0, fmt.Errorf("frr %s: %w", to.Name, err)
	}
	return t.Sub(start), nil
}

// cniLatency: n pods with vxbgp-cni and n with the reference plugins on h1,
// alternating, then all deleted, alternating.
func cniLatency(ctx context.Context, c Config, l *lab.Lab, n int) []Row {
	h1 := l.Host(1)
	ref := &refCNI{dir: c.RefCNI, hostNS: h1.NS, dataDir: l.Dir + "/host-local"}
	var addO, addR, delO, delR []time.Duration
	var pods []*lab.Pod
	var refs []string
	fail := func(err error) []Row {
		return []Row{errRow(WhatCNIAdd, refCNIName, err), errRow(WhatCNIDel, refCNIName, err)}
	}
	for i := range n {
		p, err := l.Pod(ctx, h1, fmt.Sprintf("a%d", i))
		if err != nil {
			return fail(err)
		}
		pods = append(pods, p)
		addO = append(addO, p.AddTime)
		ns, err := l.AddNetns(ctx, fmt.Sprintf("r%d", i))
		if err != nil {
			return fail(err)
		}
		refs = append(refs, ns)
		d, err := ref.call(ctx, "ADD", ns)
		if err != nil {
			return fail(err)
		}
		addR = append(addR, d)
	}
	for i := range n {
		if err := l.DelPod(ctx, pods[i]); err != nil {
			return fail(err)
		}
		delO = append(delO, pods[i].DelTime)
		d, err := ref.call(ctx, "DEL", refs[i])
		if err != nil {
			return fail(err)
		}
		delR = append(delR, d)
		_ = l.DelNetns(ctx, refs[i])
	}
	a := latencyRow(WhatCNIAdd, refCNIName, addO, addR)
	a.Note = "same host, alternating; both exec'd via `ip netns exec`"
	return []Row{a, latencyRow(WhatCNIDel, refCNIName, delO, delR)}
}

type refCNI struct{ dir, hostNS, dataDir string }

func (r *refCNI) call(ctx context.Context, verb, podNS string) (time.Duration, error) {
	conf, _ := json.Marshal(map[string]any{
		"cniVersion": "1.1.0", "name": "refnet", "type": "bridge",
		"bridge": "refbr0", "isGateway": true, "mtu": 1450,
		"ipam": map[string]any{"type": "host-local", "subnet": "10.99.0.0/16", "dataDir": r.dataDir},
	})
	id := strings.ReplaceAll(podNS, "-", "") + "0000000000000000"
	env := append(os.Environ(),
		"CNI_COMMAND="+verb, "CNI_CONTAINERID="+id, "CNI_NETNS="+netnsPath(podNS),
		"CNI_IFNAME=eth0", "CNI_PATH="+r.dir)
	start := time.Now()
	_, err := lab.RunEnv(ctx, conf, env, "ip", "netns", "exec", r.hostNS, r.dir+"/bridge")
	return time.Since(start), err
}

// overlayDataplane: iperf3 between a pod on h1 and one on h2, and between
// two namespaces joined by a hand-built bridge + VXLAN with static entries.
func overlayDataplane(ctx context.Context, l *lab.Lab, dur time.Duration, rounds int) (Row, []string) {
	row := Row{What: WhatOverlay, Unit: "Gbit/s", RefName: refHandVXLAN}
	notes := []string{NoteOffloads + " (h1): " + offloads(ctx, l.Host(1).NS, lab.VXLANDev)}
	err := func() error {
		p1, err := l.Pod(ctx, l.Host(1), "tp1")
		if err != nil {
			return err
		}
		p2, err := l.Pod(ctx, l.Host(2), "tp2")
		if err != nil {
			return err
		}
		if err := waitPair(ctx, p1, p2); err != nil {
			return err
		}
		src, dst, dstIP, err := handVXLAN(ctx, l)
		if err != nil {
			return fmt.Errorf("ref: %w", err)
		}
		notes = append(notes, NoteOffloads+" (hand-built): "+offloads(ctx, l.ID+"-m1", "vxlan100"))
		row.Ours, row.Ref, err = iperfRounds(ctx, rounds, dur,
			func() (float64, error) { return iperf(ctx, p1.NS, p2.NS, p2.IP.String(), dur) },
			func() (float64, error) { return iperf(ctx, src, dst, dstIP, dur) })
		return err
	}()
	if err != nil {
		row.Err = err.Error()
	}
	if row.Ref > 0 {
		row.Ratio = row.Ours / row.Ref
	}
	row.N = rounds
	row.Note = fmt.Sprintf("median of %d alternating %v runs each, pod MTU 1450 both", rounds, dur)
	return row, notes
}

// iperfRounds alternates ours and ref rounds times (single runs vary by
// ±5 % here, and alternating spreads the machine's drift over both) and
// returns the median of each.
func iperfRounds(ctx context.Context, rounds int, dur time.Duration, ours, ref func() (float64, error)) (float64, float64, error) {
	var o, r []float64
	for range rounds {
		v, err := ours()
		if err != nil {
			return 0, 0, err
		}
		o = append(o, v)
		if v, err = ref(); err != nil {
			return 0, 0, fmt.Errorf("ref: %w", err)
		}
		r = append(r, v)
	}
	return medianF(o), medianF(r), nil
}

func medianF(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// waitPair waits until each pod's host has the other pod's remote FDB
// entry (the lab is not a full mesh, so WaitConverged does not apply).
func waitPair(ctx context.Context, a, b *lab.Pod) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, x := range [][2]*lab.Pod{{a, b}, {b, a}} {
		at, remote := x[0].Host, x[1]
		err := lab.Eventually(ctx, at.Name+" FDB entry of "+remote.Name, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
			fdb, err := lab.ReadFDB(ctx, at.NS, lab.VXLANDev)
			if err != nil {
				return false, err
			}
			_, ok := lab.RemoteEntry(fdb, remote.MAC, remote.Host.Addr)
			return ok, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// handVXLAN builds the overlay path of shared/notes/lab/dataplane-proto.sh
// by hand in namespaces of the run: m-ul (underlay bridge), m1/m2 (hosts
// with br100 + vxlan100, static FDB and neighbour entries), mp1/mp2 (pods).
func handVXLAN(ctx context.Context, l *lab.Lab) (src, dst, dstIP string, err error) {
	ns := map[string]string{}
	for _, s := range []string{"mul", "m1", "m2", "mp1", "mp2"} {
		if ns[s], err = l.AddNetns(ctx, s); err != nil {
			return
		}
	}
	if err = ipBatch(ctx, ns["mul"], []string{"link add ul type bridge", "link set ul up"}); err != nil {
		return
	}
	const gw = "02:00:0a:f4:00:01"
	for i := 1; i <= 2; i++ {
		h, p := ns[fmt.Sprintf("m%d", i)], ns[fmt.Sprintf("mp%d", i)]
		if err = ipBatch(ctx, ns["mul"], []string{
			fmt.Sprintf("link add m%d type veth peer name eth0 netns %s", i, h),
			fmt.Sprintf("link set m%d master ul up", i),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, h, []string{
			fmt.Sprintf("addr add 10.251.0.%d/24 dev eth0", i), "link set eth0 up",
			"link add br100 type bridge", "link set br100 address " + gw,
			"addr add 10.244.0.1/16 dev br100",
			fmt.Sprintf("link add vxlan100 type vxlan id 100 local 10.251.0.%d dstport 4789 nolearning dev eth0", i),
			"link set vxlan100 master br100",
			"link set vxlan100 mtu 1450 up", "link set br100 up",
			fmt.Sprintf("link add vp%d type veth peer name eth0 netns %s", i, p),
			fmt.Sprintf("link set vp%d mtu 1450 master br100 up", i),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, p, []string{
			fmt.Sprintf("link set eth0 address 02:00:00:00:0%d:01 mtu 1450", i),
			fmt.Sprintf("addr add 10.244.%d.2/16 dev eth0", i), "link set eth0 up",
			"route add default via 10.244.0.1",
		}); err != nil {
			return
		}
		o := 3 - i
		if err = bridgeBatch(ctx, h, []string{
			"link set dev vxlan100 learning off neigh_suppress on",
			fmt.Sprintf("fdb append 00:00:00:00:00:00 dev vxlan100 dst 10.251.0.%d self permanent", o),
			fmt.Sprintf("fdb replace 02:00:00:00:0%d:01 dev vxlan100 dst 10.251.0.%d self extern_learn", o, o),
			fmt.Sprintf("fdb replace 02:00:00:00:0%d:01 dev vxlan100 master extern_learn dynamic", o),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, h, []string{
			fmt.Sprintf("neigh replace 10.244.%d.2 lladdr 02:00:00:00:0%d:01 dev br100 nud noarp extern_learn", o, o),
		}); err != nil {
			return
		}
		if err = ipBatch(ctx, p, []string{
			fmt.Sprintf("neigh replace 10.244.%d.2 lladdr 02:00:00:00:0%d:01 dev eth0", o, o),
		}); err != nil {
			return
		}
	}
	return ns["mp1"], ns["mp2"], "10.244.2.2", nil
}

// offloads is `ethtool -k dev` (features that are on), or the GSO/GRO/TSO
// sizes from `ip -d link` without ethtool.
func offloads(ctx context.Context, ns, dev string) string {
	if _, err := exec.LookPath("ethtool"); err == nil {
		out, err := lab.Exec(ctx, ns, "ethtool", "-k", dev)
		if err == nil {
			var on []string
			for _, line := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && strings.HasPrefix(v, "on") {
					on = append(on, k)
				}
			}
			return "ethtool -k on: " + strings.Join(on, ",")
		}
	}
	out, err := lab.IP(ctx, ns, "-d", "link", "show", "dev", dev)
	if err != nil {
		return "n/a: " + err.Error()
	}
	f := strings.Fields(out)
	var kv []string
	for i := 0; i+1 < len(f); i++ {
		if strings.HasPrefix(f[i], "gso_") || strings.HasPrefix(f[i], "gro_") || strings.HasPrefix(f[i], "tso_") || f[i] == "udpcsum" || f[i] == "noudpcsum" || f[i] == "mtu" {
			if f[i] == "udpcsum" || f[i] == "noudpcsum" {
				kv = append(kv, f[i])
				continue
			}
			kv = append(kv, f[i]+"="+f[i+1])
		}
	}
	return "(no ethtool; ip -d link) " + strings.Join(kv, " ")
}

// iperf runs an iperf3 server in dstNS (one test) and a client in srcNS
// and returns the receiver's throughput in Gbit/s.
func iperf(ctx context.Context, srcNS, dstNS, dstIP string, dur time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", dstNS, "iperf3", "-s", "-1", "-p", "5201")
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	srv.WaitDelay = 2 * time.Second
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	// Wait until the server listens, then run the client.
	err := lab.Eventually(ctx, "iperf3 server in "+dstNS, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := lab.Exec(ctx, dstNS, "ss", "-Hltn", "sport = :5201")
		return err == nil && strings.Contains(out, "5201"), err
	})
	if err != nil {
		return 0, err
	}
	var out string
	for try := 0; try < 20; try++ {
		out, err = lab.Exec(ctx, srcNS, "iperf3", "-c", dstIP, "-p", "5201", "-t", fmt.Sprint(int(dur.Seconds())), "-J")
		if err == nil || !strings.Contains(out+err.Error(), "refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var res struct {
		End struct {
			Recv struct {
				BPS float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
		return 0, errors.Join(err, jerr)
	}
	if res.Error != "" {
		return 0, errors.New("iperf3: " + res.Error)
	}
	if err != nil {
		return 0, err
	}
	return res.End.Recv.BPS / 1e9, nil
}

// routedSuite: a routed-mode lab with a BGP speaker (this program) on the
// underlay peering with h1 and with an FRR router r1: pod -> pod vs. h1 ->
// h2 on the underlay, then the speaker announces sz.blocks /28s inside the
// pod subnet and we time until they are kernel routes on h1 and on r1.
// Without the blocks part there is no speaker and no router.
func routedSuite(ctx context.Context, c Config, sz sizes) ([]Row, []string) {
	row := Row{What: WhatRouted, Unit: "Gbit/s", RefName: refRawUnderly}
	blk := Row{What: fmt.Sprintf("%s, n=%d", WhatBlocks, sz.blocks), Unit: "ms", RefName: refFRRRouter, N: 1}
	doRouted, doBlocks := c.has(PartRouted), c.has(PartBlocks)
	result := func() []Row {
		var out []Row
		if doRouted {
			out = append(out, row)
		}
		if doBlocks {
			out = append(out, blk)
		}
		return out
	}
	const spAddr, spASN = "10.250.0.150", 64999
	const within = "10.244.64.0/18"
	o := lab.Options{Hosts: 2, Mode: "routed"}
	if doBlocks {
		// r1 peers with no host, only with the speaker.
		o.Routers = []lab.RouterSpec{{Hosts: []int{99}}}
		o.Configure = func(h *lab.Host, hc *lab.HostConfig) {
			if h.Index == 1 {
				hc.BGP.Peers = append(hc.BGP.Peers, lab.PeerConfig{Address: spAddr, ASN: spASN})
			}
		}
	}
	l, closeLab, err := newLab(ctx, c, o)
	if err != nil {
		row.Err, blk.Err = err.Error(), err.Error()
		return result(), nil
	}
	defer closeLab()
	h1, h2 := l.Host(1), l.Host(2)
	var r1 *lab.Router
	var sp *speakerProc
	if doBlocks {
		r1 = l.Routers[0]
		err = func() error {
			ns, err := l.AddUnderlayNS(ctx, "sp", "sp", spAddr)
			if err != nil {
				return err
			}
			sp, err = startSpeaker(ctx, c.Self, ns, "-id", spAddr, "-asn", fmt.Sprint(spASN), "-n", fmt.Sprint(sz.blocks),
				"-within", within, "-peers", fmt.Sprintf("%s:%d,%s:%d", h1.Addr, lab.ASN, r1.Addr, r1.ASN))
			if err != nil {
				return err
			}
			_, err = lab.RunEnv(ctx, nil, nil, "vtysh", "--vty_socket", r1.Dir, "-c", "configure terminal",
				"-c", fmt.Sprintf("router bgp %d", r1.ASN),
				"-c", fmt.Sprintf("neighbor %s remote-as %d", spAddr, spASN),
				"-c", fmt.Sprintf("neighbor %s timers connect 1", spAddr),
				"-c", "address-family ipv4 unicast", "-c", fmt.Sprintf("neighbor %s activate", spAddr))
			return err
		}()
		if err != nil {
			blk.Err = err.Error()
		}
	}
	err = func() error {
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if _, err := l.WaitAllPeers(wctx); err != nil {
			return err
		}
		if !doRouted {
			return nil
		}
		p1, err := l.Pod(ctx, h1, "tp1")
		if err != nil {
			return err
		}
		p2, err := l.Pod(ctx, h2, "tp2")
		if err != nil {
			return err
		}
		if _, err := l.WaitRouted(wctx); err != nil {
			return err
		}
		row.Ours, row.Ref, err = iperfRounds(ctx, sz.iperfRounds, sz.iperf,
			func() (float64, error) { return iperf(ctx, p1.NS, p2.NS, p2.IP.String(), sz.iperf) },
			func() (float64, error) { return iperf(ctx, h1.NS, h2.NS, h2.Addr, sz.iperf) })
		return err
	}()
	if err != nil {
		row.Err = err.Error()
		if !doRouted && blk.Err == "" {
			blk.Err = err.Error()
		}
	}
	if row.Ref > 0 {
		row.Ratio = row.Ours / row.Ref
	}
	row.N = sz.iperfRounds
	row.Note = fmt.Sprintf("median of %d alternating %v runs each; underlay MTU 1500, pod MTU 1450", sz.iperfRounds, sz.iperf)
	if sp != nil {
		defer sp.stop()
		if blk.Err == "" {
			if err := blocks(ctx, sp, h1.NS, r1.NS, within, sz.blocks, &blk); err != nil {
				blk.Err = err.Error()
			}
		}
	}
	return result(), nil
}

func blocks(ctx context.Context, sp *speakerProc, ours, ref, within string, n int, row *Row) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if _, err := sp.expect(ctx, "established"); err != nil {
		return err
	}
	pfx := netip.MustParsePrefix(within)
	wo, err := lab.WatchRoutes(ours, routesWithin(pfx))
	if err != nil {
		return err
	}
	defer wo.Close()
	wr, err := lab.WatchRoutes(ref, routesWithin(pfx))
	if err != nil {
		return err
	}
	defer wr.Close()
	start := time.Now()
	if _, err := io.WriteString(sp.stdin, "go\n"); err != nil {
		return err
	}
	added, err := sp.expect(ctx, "added")
	if err != nil {
		return err
	}
	to, err := wo.WaitCount(ctx, n)
	if err != nil {
		return fmt.Errorf("h1: %w", err)
	}
	tr, err := wr.WaitCount(ctx, n)
	if err != nil {
		return fmt.Errorf("r1: %w", err)
	}
	row.Ours, row.OursP99 = medianP99([]time.Duration{to.Sub(start)})
	row.Ref, row.RefP99 = medianP99([]time.Duration{tr.Sub(start)})
	row.Ratio = row.Ours / row.Ref
	row.Note = "one sample; embedded GoBGP speaker on the underlay sends the same /28s to h1 and r1 (speaker " + added + ")"
	return nil
}
