package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

// The EVPN speaker of the overlay lab: on the underlay, iBGP l2vpn evpn
// with h2 and with FRR host f2.
const evpnSpeaker = "10.250.0.150"

// startEVPNSpeaker starts the speaker and adds it as a neighbour to f2 (h2
// has it in its config, see overlaySuite).
func startEVPNSpeaker(ctx context.Context, c Config, l *lab.Lab, n int) (*speakerProc, error) {
	ns, err := l.AddUnderlayNS(ctx, "sp", "sp", evpnSpeaker)
	if err != nil {
		return nil, err
	}
	f2 := l.FRR[1]
	sp, err := startSpeaker(ctx, c.Self, ns, "-id", evpnSpeaker, "-asn", fmt.Sprint(lab.ASN), "-evpn", fmt.Sprint(n),
		"-vni", fmt.Sprint(lab.VNI), "-peers", fmt.Sprintf("%s:%d,%s:%d", l.Host(2).Addr, lab.ASN, f2.Addr, lab.ASN))
	if err != nil {
		return nil, err
	}
	_, err = lab.RunEnv(ctx, nil, nil, "vtysh", "--vty_socket", f2.Dir, "-c", "configure terminal",
		"-c", fmt.Sprintf("router bgp %d", lab.ASN),
		"-c", fmt.Sprintf("neighbor %s remote-as %d", evpnSpeaker, lab.ASN),
		"-c", fmt.Sprintf("neighbor %s timers connect 1", evpnSpeaker),
		"-c", "address-family l2vpn evpn", "-c", fmt.Sprintf("neighbor %s activate", evpnSpeaker))
	if err != nil {
		sp.stop()
		return nil, err
	}
	return sp, nil
}

// type2 has the speaker announce n MAC-only type-2 routes and times until
// all are FDB entries on h2 and on f2; it reports h2's agent RSS before and
// after.
func type2(ctx context.Context, l *lab.Lab, sp *speakerProc, n int) Row {
	row := Row{What: fmt.Sprintf("%s, n=%d", WhatType2, n), Unit: "ms", RefName: refFRR, N: 1}
	h2, f2 := l.Host(2), l.FRR[1]
	err := func() error {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if _, err := sp.expect(ctx, "established"); err != nil {
			return err
		}
		wo, err := lab.WatchNeigh(h2.NS, remoteFDBWithPrefix("02:e0:"))
		if err != nil {
			return err
		}
		defer wo.Close()
		wr, err := lab.WatchNeigh(f2.NS, remoteFDBWithPrefix("02:e0:"))
		if err != nil {
			return err
		}
		defer wr.Close()
		if _, err := io.WriteString(sp.stdin, "load\n"); err != nil {
			return err
		}
		loaded, err := sp.expect(ctx, "loaded")
		if err != nil {
			return err
		}
		pid := []int{h2.PID()}
		rss0 := rssMB(pid)
		start := time.Now()
		if _, err := io.WriteString(sp.stdin, "go\n"); err != nil {
			return err
		}
		sent, err := sp.expect(ctx, "sent")
		if err != nil {
			return err
		}
		to, err := wo.WaitCount(ctx, n)
		if err != nil {
			return fmt.Errorf("h2: %w", err)
		}
		row.Ours, row.OursP99 = medianP99([]time.Duration{to.Sub(start)})
		row.Note = fmt.Sprintf("one sample; from the speaker releasing its table (soft reset out to h2 and f2 at once; %s, %s beforehand) until all are FDB entries; h2 vxbgpd RSS %.0f MB before, %.0f MB after",
			sent, loaded, rss0, rssMB(pid))
		tr, err := wr.WaitCount(ctx, n)
		if err != nil {
			return fmt.Errorf("f2: %w", err)
		}
		row.Ref, row.RefP99 = medianP99([]time.Duration{tr.Sub(start)})
		row.Ratio = row.Ours / row.Ref
		return nil
	}()
	if err != nil {
		row.Err = err.Error()
	}
	return row
}
