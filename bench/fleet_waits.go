package bench

// The tracker's waits on the FDB stamps and the kernel, and what it
// reports of a phase: the snapshots of slow pairs, the waits, the answer
// times (the tracker itself is in fleet_track.go).

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// programmed waits until every host holds an entry for each of pods that
// live elsewhere, pointing to its host, and returns when the last arrived.
func (t *tracker) programmed(ctx context.Context, pods []*fleetPod) (time.Time, error) {
	return t.waitStamps(ctx, pods, "added", func(s *fdbStamp, fp *fleetPod) (time.Time, bool) {
		if s == nil || s.added.IsZero() || s.dst != t.hosts[fp.host].Addr {
			return time.Time{}, false
		}
		return s.added, true
	})
}

// gone waits until every other host deleted each of pods' entries after
// since (and did not add it again), and returns when the last deletion
// arrived.
func (t *tracker) gone(ctx context.Context, pods []*fleetPod, since time.Time) (time.Time, error) {
	return t.waitStamps(ctx, pods, "deleted", func(s *fdbStamp, _ *fleetPod) (time.Time, bool) {
		if s == nil || s.del.Before(since) || s.del.Before(s.lastAdd) {
			return time.Time{}, false
		}
		return s.del, true
	})
}

func (t *tracker) waitStamps(ctx context.Context, pods []*fleetPod, what string, stamp func(*fdbStamp, *fleetPod) (time.Time, bool)) (time.Time, error) {
	var last time.Time
	err := lab.Eventually(ctx, fmt.Sprintf("every host to have %s the entries of %d pods", what, len(pods)), 100*time.Millisecond,
		func(context.Context) (bool, error) {
			t.mu.Lock()
			defer t.mu.Unlock()
			last = time.Time{}
			var miss []string
			for _, fp := range pods {
				for i := range t.hosts {
					if i == fp.host {
						continue
					}
					at, ok := stamp(t.fdb[i][fp.mac], fp)
					if !ok {
						miss = append(miss, t.hosts[i].Name+":"+fp.name)
						continue
					}
					if at.After(last) {
						last = at
					}
				}
			}
			if len(miss) > 0 {
				return false, fmt.Errorf("%d missing, e.g. %v", len(miss), miss[:min(5, len(miss))])
			}
			return true, nil
		})
	if err == nil {
		for _, w := range t.watches {
			if werr := w.Err(); werr != nil {
				return last, werr
			}
		}
	}
	return last, err
}

// checkKernel reads every host's FDB once (untimed) and checks it against
// the watches' conclusion: every pod of want present towards its host,
// none of gone.
func (t *tracker) checkKernel(ctx context.Context, want, gone []*fleetPod) error {
	for i, h := range t.hosts {
		fdb, err := lab.ReadFDB(ctx, h.NS, lab.VXLANDev)
		if err != nil {
			return err
		}
		for _, fp := range want {
			if fp.host == i {
				continue
			}
			if _, ok := lab.RemoteEntry(fdb, fp.mac, t.hosts[fp.host].Addr); !ok {
				return fmt.Errorf("%s's FDB lacks %s (%s dst %s)", h.Name, fp.name, fp.mac, t.hosts[fp.host].Addr)
			}
		}
		for _, fp := range gone {
			if es := lab.FindFDB(fdb, fp.mac); len(es) > 0 {
				return fmt.Errorf("%s's FDB still holds deleted %s: %v", h.Name, fp.name, es)
			}
		}
	}
	return nil
}

// snapshot reads what both ends know of each other for a pair still
// unanswered (untimed, diagnostic): each pod's ARP entry for the other,
// each host's neighbour and FDB entries for the other pod.
func (t *tracker) snapshot(ctx context.Context, p *pair, k int) {
	at := time.Now()
	read := func(ns string, args ...string) string {
		out, err := lab.IP(ctx, ns, args...)
		if err != nil {
			return "error: " + err.Error()
		}
		if out = strings.TrimSpace(out); out == "" {
			return "none"
		}
		return strings.ReplaceAll(out, "\n", " | ")
	}
	fdb := func(ns, mac string) string {
		out, err := lab.Bridge(ctx, ns, "fdb", "show")
		if err != nil {
			return "error: " + err.Error()
		}
		var hits []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, mac+" ") {
				hits = append(hits, strings.TrimSpace(l))
			}
		}
		if len(hits) == 0 {
			return "none"
		}
		return strings.Join(hits, " | ")
	}
	from, to := t.hosts[p.from.host], t.hosts[p.to.host]
	snap := fmt.Sprintf("%s -> %s unanswered %s after its gate: sender pod's ARP: %s; target pod's ARP: %s; %s neigh: %s; %s fdb: %s; %s neigh: %s; %s fdb: %s; "+
		"underlay: %s's neighbour %s: %s, %s's neighbour %s: %s; %s vxlan100: %s; %s vxlan100: %s",
		p.from.name, p.to.name, fmtDur(at.Sub(p.gated)),
		read(p.from.pod.NS, "-4", "neigh", "show", p.to.ip.String()), read(p.to.pod.NS, "-4", "neigh", "show", p.from.ip.String()),
		from.Name, read(from.NS, "-4", "neigh", "show", p.to.ip.String()), from.Name, fdb(from.NS, p.to.mac),
		to.Name, read(to.NS, "-4", "neigh", "show", p.from.ip.String()), to.Name, fdb(to.NS, p.from.mac),
		from.Name, to.Addr, read(from.NS, "-4", "neigh", "show", to.Addr), to.Name, from.Addr, read(to.NS, "-4", "neigh", "show", from.Addr),
		from.Name, read(from.NS, "-s", "link", "show", "vxlan100"), to.Name, read(to.NS, "-s", "link", "show", "vxlan100"))
	t.mu.Lock()
	t.snaps[k] = snap
	t.mu.Unlock()
}

// snapshots are the snapshots taken, in order.
func (t *tracker) snapshots() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.snaps)
}

// waits says how long answered pairs waited from their gate's opening
// to their answer: the median and the longest, how many pairs needed
// more than one request (a lost or unanswered first one) and from and
// to how many distinct pods, and the three slowest pairs (times from
// t0), so that a tail after the last entry is told apart from the pods'
// creation.
func (t *tracker) waits(t0 time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var answered []*pair
	retried := 0
	from, to := map[*fleetPod]bool{}, map[*fleetPod]bool{}
	for _, p := range t.pairs {
		if p.answered.IsZero() || p.gated.IsZero() {
			continue
		}
		answered = append(answered, p)
		if p.sends > 1 {
			retried++
			from[p.from], to[p.to] = true, true
		}
	}
	if len(answered) == 0 {
		return "no pair answered"
	}
	wait := func(p *pair) time.Duration { return p.answered.Sub(p.gated) }
	slices.SortFunc(answered, func(a, b *pair) int { return cmp.Compare(wait(a), wait(b)) })
	var slow []string
	for k := len(answered) - 1; k >= 0 && k >= len(answered)-3; k-- {
		p := answered[k]
		slow = append(slow, fmt.Sprintf("%s -> %s gated %s answered %s (%d requests)",
			p.from.name, p.to.name, fmtSince(t0, p.gated), fmtSince(t0, p.answered), p.sends))
	}
	return fmt.Sprintf("gate open -> answer: median %s, longest %s; %d of %d pairs needed more than one request (from %d pods, to %d); slowest: %s",
		fmtDur(wait(answered[len(answered)/2])), fmtDur(wait(answered[len(answered)-1])), retried, len(answered), len(from), len(to), strings.Join(slow, ", "))
}

// pairTimes are the answer times of the phase's pairs, from t0.
func (t *tracker) pairTimes(t0 time.Time) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for _, p := range t.pairs {
		if !p.answered.IsZero() {
			out = append(out, p.answered.Sub(t0))
		}
	}
	slices.Sort(out)
	return out
}
