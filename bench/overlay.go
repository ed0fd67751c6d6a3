package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

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
		{PartType2, []string{WhatType2, WhatType2Peak}}, {PartOverlay, []string{WhatOverlay}}, {PartFootprint, []string{WhatRSS, WhatCPU}}} {
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
	// CPU groups: h2 and f2 take in the type-2 table at the same moment
	// (bench/README.md "CPU groups").
	l, closeLab, err := newLab(ctx, c, lab.Options{Hosts: 2, FRRHosts: 2, CPUGroups: c.cpuGroups,
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
		rows = append(rows, bulkAll(ctx, l, sz.bulk, sz.bulkN, c.Logf)...)
	}
	if c.has(PartType2) {
		if spErr != nil {
			rows = append(rows, errRow(WhatType2, refFRR, spErr), errRow(WhatType2Peak, refFRRDaemons, spErr))
		} else {
			rows = append(rows, type2(ctx, l, sp, sz.type2, sz.type2N, c.Logf)...)
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
