package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// repeerSuite: a routed lab of two hosts and an FRR router r1 (graceful
// restart on, as TestFRRRestartsGracefully runs it) peering with both. Ours:
// h1's vxbgpd is stopped (SIGTERM, or SIGKILL) and started again; the time
// from the start command until every one of h1's sessions (h2, r1) is
// Established again, as h1 reports it. Reference: r1's bgpd stopped the
// same way and started again (zebra stays up); the time from its start
// command until its sessions (h1, h2) are Established, as r1 reports it.
// Rounds alternate ours and FRR's, each polled every 10 ms.
func repeerSuite(ctx context.Context, c Config, sz sizes) []Row {
	rows := []Row{
		{What: WhatRepeerTerm, Unit: "ms", RefName: refFRRBgpd},
		{What: WhatRepeerKill, Unit: "ms", RefName: refFRRBgpd},
	}
	fail := func(err error) []Row {
		for i := range rows {
			rows[i].Err = err.Error()
		}
		return rows
	}
	l, closeLab, err := newLab(ctx, c, lab.Options{Hosts: 2, Mode: "routed",
		Routers: []lab.RouterSpec{{GracefulRestart: true}}})
	if err != nil {
		return fail(err)
	}
	defer closeLab()
	h1, r1 := l.Host(1), l.Routers[0]
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if _, err := l.WaitAllPeers(wctx); err != nil {
		return fail(err)
	}
	hostPeers := []string{l.Host(2).Addr, r1.Addr}
	routerPeers := []string{h1.Addr, l.Host(2).Addr}
	for ri, kill := range []bool{false, true} {
		var ours, refs []time.Duration
		for range sz.repeerN {
			d, err := restartAgent(ctx, h1, kill, hostPeers)
			if err != nil {
				rows[ri].Err = err.Error()
				break
			}
			ours = append(ours, d)
			d, err = restartBGPD(ctx, r1, kill, routerPeers)
			if err != nil {
				rows[ri].Err = err.Error()
				break
			}
			refs = append(refs, d)
		}
		if rows[ri].Err != "" {
			continue
		}
		rows[ri] = latencyRow(rows[ri].What, refFRRBgpd, ours, refs)
		rows[ri].Note = fmt.Sprintf("%d restarts each, alternating; p99 = max", len(ours))
	}
	return rows
}

// restartAgent stops h (SIGKILL or SIGTERM), starts it and returns the
// time from the start until all its sessions with peers are Established.
func restartAgent(ctx context.Context, h *lab.Host, kill bool, peers []string) (time.Duration, error) {
	var err error
	if kill {
		err = h.Kill(ctx)
	} else {
		err = h.Stop(ctx)
	}
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := h.Start(ctx); err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = lab.Eventually(wctx, h.Name+" sessions back", 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		ps, err := h.Peers(ctx)
		if err != nil {
			return false, err
		}
		up := 0
		for _, p := range ps {
			for _, want := range peers {
				if p.Address == want && strings.EqualFold(p.State, "established") {
					up++
				}
			}
		}
		return up == len(peers), fmt.Errorf("%d of %v established", up, peers)
	})
	return time.Since(start), err
}

// restartBGPD stops r's bgpd (SIGKILL or SIGTERM), starts it and returns
// the time from the start until all its sessions with peers are
// Established.
func restartBGPD(ctx context.Context, r *lab.Router, kill bool, peers []string) (time.Duration, error) {
	if err := r.StopBGPD(ctx, kill); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := r.StartBGPD(ctx); err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := lab.Eventually(wctx, r.Name+" sessions back", 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		ss, err := r.Sessions(ctx)
		if err != nil {
			return false, nil // vtysh answers only once bgpd is up
		}
		var down []string
		for _, p := range peers {
			if ss[p].State != "Established" {
				down = append(down, p+"="+ss[p].State)
			}
		}
		return len(down) == 0, fmt.Errorf("not established: %v", down)
	})
	return time.Since(start), err
}
