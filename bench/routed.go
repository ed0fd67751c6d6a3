package bench

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// routedSuite: a routed-mode lab with a BGP speaker (this program) on the
// underlay peering with h1 and with an FRR router r1: pod -> pod vs. h1 ->
// h2 on the underlay, then the speaker announces sz.blocks /28s inside the
// pod subnet and we time until they are kernel routes on h1 and on r1.
// Without the blocks part there is no speaker and no router.
func routedSuite(ctx context.Context, c Config, sz sizes) ([]Row, []string) {
	row := Row{What: WhatRouted, Unit: "Gbit/s", RefName: refRawUnderly}
	blk := Row{What: fmt.Sprintf("%s, n=%d", WhatBlocks, sz.blocks), Unit: "ms", RefName: refFRRRouter}
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
	// CPU groups: h1 and r1 take in the blocks at the same moment
	// (bench/README.md "CPU groups").
	o := lab.Options{Hosts: 2, Mode: "routed", CPUGroups: c.cpuGroups}
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
			if err := blocks(ctx, sp, h1, r1, within, sz.blocks, sz.blocksN, &blk); err != nil {
				blk.Err = err.Error()
			}
		}
	}
	return result(), nil
}

// blocks times the speaker's n /28s until they are kernel routes on h1
// (ours) and on r1 (FRR), samples times: both tables are encoded before
// the clock and written to both sessions at once; between samples they
// are withdrawn, both sides emptied and the daemons quiet.
func blocks(ctx context.Context, sp *speakerProc, h1 *lab.Host, r1 *lab.Router, within string, n, samples int, row *Row) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second+time.Duration(samples)*time.Minute)
	defer cancel()
	if _, err := sp.expect(ctx, "established"); err != nil {
		return err
	}
	if _, err := io.WriteString(sp.stdin, "load\n"); err != nil {
		return err
	}
	loaded, err := sp.expect(ctx, "loaded")
	if err != nil {
		return err
	}
	ref, err := frrPIDs(r1.Name, r1.PIDs())
	if err != nil {
		return err
	}
	daemons := append([]int{h1.PID()}, ref...)
	pfx := netip.MustParsePrefix(within)
	var ours, refs []time.Duration
	var sent []string
	sample := func() error {
		if _, err := settle(ctx, daemons, time.Minute); err != nil {
			return err
		}
		wo, err := lab.WatchRoutes(h1.NS, routesWithin(pfx))
		if err != nil {
			return err
		}
		defer wo.Close()
		wr, err := lab.WatchRoutes(r1.NS, routesWithin(pfx))
		if err != nil {
			return err
		}
		defer wr.Close()
		start := time.Now()
		took, at, err := sp.step(ctx, "go", "sent", n, receiver{"h1", wo.WaitCount}, receiver{"r1", wr.WaitCount})
		if err != nil {
			return err
		}
		sent = append(sent, took)
		ours, refs = append(ours, at[0].Sub(start)), append(refs, at[1].Sub(start))
		if _, err := settle(ctx, daemons, time.Minute); err != nil {
			return err
		}
		do, err := lab.WatchRoutes(h1.NS, routesDeletedWithin(pfx))
		if err != nil {
			return err
		}
		defer do.Close()
		dr, err := lab.WatchRoutes(r1.NS, routesDeletedWithin(pfx))
		if err != nil {
			return err
		}
		defer dr.Close()
		_, _, err = sp.step(ctx, "withdraw", "withdrawn", n, receiver{"h1 withdrawing", do.WaitCount}, receiver{"r1 withdrawing", dr.WaitCount})
		return err
	}
	for s := 0; s < samples; s++ {
		if err := sample(); err != nil {
			return fmt.Errorf("sample %d: %w", s+1, err)
		}
	}
	*row = latencyRow(row.What, row.RefName, ours, refs)
	row.Note = fmt.Sprintf("%s; a speaker on the underlay writes the same /28s to h1 and r1 at once (encoded beforehand, %s; written in %v); between samples all withdrawn, both sides empty and the daemons quiet",
		nSamples(len(ours)), strings.TrimPrefix(loaded, "loaded "), sent)
	return nil
}
