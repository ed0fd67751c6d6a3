package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// The fleet's reachability tracker. Every host namespace has a netlink
// watch on its FDB from before the first agent starts; each remote entry
// ("MAC dst VTEP self") added or deleted is stamped on arrival. A sampled
// pair (pod a on host X pings pod b on host Y) is tried only once its gate
// is open: X holds b's entry towards Y and Y holds a's towards X, which is
// what the request and the reply need. Then one echo request goes out, and
// again every retryEvery until answered; the pair is reachable at its first
// answer. Gating keeps the harness from flooding 50,000 unanswerable
// requests (and their ARP) into a fleet that is still starting, so each
// pair costs about one request and the time is that of the answer, not of
// a polling round. The answer, not the kernel entry, is what counts: a
// gate that opens on a broken path retries until the deadline and fails.

// retryEvery is how long a request waits for its answer before the next.
const retryEvery = time.Second

// fleetPod is a pod of the fleet as the tracker knows it: named and
// placed when the sample is drawn, its pod, MAC and address set once CNI
// ADD returned (podReady).
type fleetPod struct {
	name string
	host int // index into the tracker's hosts
	pod  *lab.Pod
	mac  string
	ip   netip.Addr
}

// pair is one sampled (from, to) pair of a phase.
type pair struct {
	from, to *fleetPod
	missing  int // gate conditions not yet met; -1 until both pods exist
	sent     time.Time
	sends    int // requests sent
	gated    time.Time
	answered time.Time
}

// fdbStamp is what a host's watch saw of one MAC: its first add (and the
// VTEP it pointed to), its latest add and its latest delete.
type fdbStamp struct {
	dst                 string
	added, lastAdd, del time.Time
}

// tracker holds the fleet's watches and the sampled pairs of the current
// phase.
type tracker struct {
	hosts   []*lab.Host
	watches []*lab.Watch[fdbNote]

	mu      sync.Mutex
	fdb     []map[string]*fdbStamp // per host: MAC -> stamps
	pairs   []*pair
	doneN   int // pairs answered
	byPod   map[*fleetPod][]*pair
	waiting map[gateKey][]*pair // (host, MAC) -> pairs whose gate waits for it
	ready   []*pair             // gate open, not answered
	prober  *lab.Prober
	// snaps are the neighbour and FDB state of the first few pairs
	// still unanswered snapAfter requests after their gate opened.
	snaps []string
}

// snapAfter and snapMax: which unanswered pairs get their state read.
const (
	snapAfter = 4
	snapMax   = 3
)

type gateKey struct {
	host int
	mac  string
}

// fdbNote is a remote FDB entry added or deleted, the key of the watches.
type fdbNote struct {
	del      bool
	mac, dst string
}

// newTracker subscribes to every host's FDB; the subscriptions record into
// the tracker as notifications arrive.
func newTracker(hosts []*lab.Host) (*tracker, error) {
	t := &tracker{hosts: hosts, waiting: map[gateKey][]*pair{}}
	for range hosts {
		t.fdb = append(t.fdb, map[string]*fdbStamp{})
	}
	for i, h := range hosts {
		w, err := lab.WatchNeigh(h.NS, func(u netlink.NeighUpdate) (fdbNote, bool) { return t.note(i, u) })
		if err != nil {
			t.close()
			return nil, err
		}
		t.watches = append(t.watches, w)
	}
	return t, nil
}

func (t *tracker) close() {
	for _, w := range t.watches {
		w.Close()
	}
	t.mu.Lock()
	p := t.prober
	t.prober = nil
	t.mu.Unlock()
	if p != nil {
		p.Close()
	}
}

// note records one notification of host i's watch and opens the gates
// waiting for it.
func (t *tracker) note(i int, u netlink.NeighUpdate) (fdbNote, bool) {
	n := u.Neigh
	if n.Family != unix.AF_BRIDGE || n.Flags&netlink.NTF_SELF == 0 || n.IP == nil {
		return fdbNote{}, false
	}
	k := fdbNote{del: u.Type == unix.RTM_DELNEIGH, mac: strings.ToLower(n.HardwareAddr.String()), dst: n.IP.String()}
	if k.mac == "00:00:00:00:00:00" {
		return fdbNote{}, false // a flood entry
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.fdb[i][k.mac]
	if s == nil {
		s = &fdbStamp{}
		t.fdb[i][k.mac] = s
	}
	switch {
	case k.del:
		s.del = now
	case !s.added.IsZero():
		s.lastAdd = now
	default:
		s.added, s.lastAdd, s.dst = now, now, k.dst
		gk := gateKey{i, k.mac}
		for _, p := range t.waiting[gk] {
			t.open(p, now)
		}
		delete(t.waiting, gk)
	}
	return k, true
}

// open counts one gate condition met (t.mu held).
func (t *tracker) open(p *pair, now time.Time) {
	if p.missing--; p.missing == 0 {
		p.gated = now
		t.ready = append(t.ready, p)
	}
}

// knowsLocked reports whether host i holds p's entry towards p's host.
func (t *tracker) knowsLocked(i int, p *fleetPod) bool {
	s := t.fdb[i][p.mac]
	return s != nil && !s.added.IsZero() && s.dst == t.hosts[p.host].Addr
}

// startPhase replaces the sampled pairs (and the prober: a new pod may
// reuse an old one's address) with pairs; their gates are evaluated as
// their pods are added.
func (t *tracker) startPhase(pairs []*pair) {
	t.mu.Lock()
	old := t.prober
	t.prober = lab.NewProber()
	t.pairs, t.ready, t.waiting, t.doneN = pairs, nil, map[gateKey][]*pair{}, 0
	t.byPod = map[*fleetPod][]*pair{}
	for _, p := range pairs {
		p.missing = -1
		t.byPod[p.from] = append(t.byPod[p.from], p)
		t.byPod[p.to] = append(t.byPod[p.to], p)
	}
	t.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// podReady records that fp's pod p exists: pairs whose both pods exist
// get their gates.
func (t *tracker) podReady(fp *fleetPod, p *lab.Pod) {
	now := time.Now()
	mac := strings.ToLower(p.MAC)
	if hw, err := net.ParseMAC(p.MAC); err == nil {
		mac = hw.String()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fp.pod, fp.mac, fp.ip = p, mac, p.IP
	for _, p := range t.byPod[fp] {
		if p.missing != -1 || !podKnown(p.from) || !podKnown(p.to) {
			continue
		}
		p.missing = 1 // held until both conditions are counted
		for _, c := range []struct {
			host int
			pod  *fleetPod
		}{{p.from.host, p.to}, {p.to.host, p.from}} {
			if t.knowsLocked(c.host, c.pod) {
				continue
			}
			p.missing++
			gk := gateKey{c.host, c.pod.mac}
			t.waiting[gk] = append(t.waiting[gk], p)
		}
		t.open(p, now)
	}
}

func podKnown(fp *fleetPod) bool { return fp.mac != "" }

// podGone records that fp's pod is being deleted: its probe socket goes.
func (t *tracker) podGone(fp *fleetPod) {
	t.mu.Lock()
	prober := t.prober
	t.mu.Unlock()
	if prober != nil && fp.pod != nil {
		prober.Forget(fp.pod.NS)
	}
}

// probe sends the requests due until every pair of the phase is answered,
// and returns when the last answer came; at ctx's end it fails naming
// pairs still unanswered.
func (t *tracker) probe(ctx context.Context) (time.Time, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var inflight []*pair
	var last time.Time
	var sendErr error
	for {
		t.mu.Lock()
		inflight = append(inflight, t.ready...)
		t.ready = nil
		prober := t.prober
		total := len(t.pairs)
		t.mu.Unlock()
		now := time.Now()
		keep := inflight[:0]
		for _, p := range inflight {
			if at, ok := prober.Answered(p.from.pod.NS, p.to.ip); ok {
				t.mu.Lock()
				p.answered = at
				t.doneN++
				t.mu.Unlock()
				if at.After(last) {
					last = at
				}
				continue
			}
			if now.Sub(p.sent) >= retryEvery {
				p.sent = now
				p.sends++
				if p.sends == snapAfter {
					t.mu.Lock()
					take := len(t.snaps) < snapMax
					if take {
						t.snaps = append(t.snaps, "") // reserved
					}
					k := len(t.snaps) - 1
					t.mu.Unlock()
					if take {
						go t.snapshot(ctx, p, k)
					}
				}
				if err := prober.Send(p.from.pod.NS, p.to.ip); err != nil {
					sendErr = err // no route yet, say: the retry sends again
				}
			}
			keep = append(keep, p)
		}
		inflight = keep
		t.mu.Lock()
		done := t.doneN
		t.mu.Unlock()
		if done == total && total > 0 {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%d of %d sampled pairs unanswered (%s; last send error: %v): %w",
				total-done, total, t.unanswered(5), sendErr, ctx.Err())
		case <-tick.C:
		}
	}
}

// unanswered names up to n pairs still unanswered and why.
func (t *tracker) unanswered(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	count := 0
	for _, p := range t.pairs {
		if !p.answered.IsZero() {
			continue
		}
		count++
		if len(out) == n {
			continue
		}
		why := "gate open, no answer"
		switch {
		case p.missing == -1:
			why = "a pod missing"
		case p.missing > 0:
			var miss []string
			if !t.knowsLocked(p.from.host, p.to) {
				miss = append(miss, t.hosts[p.from.host].Name+" lacks "+p.to.name)
			}
			if !t.knowsLocked(p.to.host, p.from) {
				miss = append(miss, t.hosts[p.to.host].Name+" lacks "+p.from.name)
			}
			why = strings.Join(miss, ", ")
		}
		out = append(out, fmt.Sprintf("%s->%s (%s)", p.from.name, p.to.name, why))
	}
	return fmt.Sprintf("%d unanswered, e.g. %s", count, strings.Join(out, "; "))
}
