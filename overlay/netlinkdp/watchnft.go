package netlinkdp

import (
	"context"

	"github.com/google/nftables"

	"github.com/vxbgp/vxbgp/overlay/nftnat"
)

// watchNFT kicks when our NAT table (table inet vxbgp) or a chain or rule
// in it is added, changed or deleted by anyone, e.g. an operator's
// `nft delete table inet vxbgp` or `nft flush ruleset`, until ctx ends:
//
//	nft monitor
//
// It listens on the nftables multicast group (NFNLGRP_NFTABLES) from a
// netfilter socket opened where the process is (the Dataplane's namespace
// for a test's NewAt, through the socket's own namespace option), like the
// NAT connection. Our own writes come back too; they are rare (the NAT
// rules change with the config) and cost one more pass each. A host
// without nf_tables has nothing to watch: it says so once and returns.
func (d *Dataplane) watchNFT(ctx context.Context, kick func()) {
	err := d.resubscribe(ctx, "nftables", func(ctx context.Context) (bool, error) { return d.watchNFTOnce(ctx, kick) })
	if err != nil {
		d.log.Info("not watching the NAT table: no nftables monitor", "err", err)
	}
}

func (d *Dataplane) watchNFTOnce(ctx context.Context, kick func()) (subscribed bool, err error) {
	var opts []nftables.ConnOption
	if d.ns.IsOpen() {
		opts = append(opts, nftables.WithNetNSFd(int(d.ns)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return false, err
	}
	m := nftables.NewMonitor(nftables.WithMonitorObject(nftables.MonitorObjectTables | nftables.MonitorObjectChains | nftables.MonitorObjectRules))
	events, err := c.AddMonitor(m)
	if err != nil {
		return false, err
	}
	defer func() {
		m.Close()
		for range events { // let the monitor's goroutines finish
		}
	}()
	kick() // anything may have changed while nobody was watching
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case ev, ok := <-events:
			if !ok {
				return true, errClosed("nftables monitor")
			}
			if ev.Type == nftables.MonitorEventTypeOOB {
				return true, ev.Error
			}
			if t := eventTable(ev); t != nil && t.Name == nftnat.TableName && t.Family == nftables.TableFamilyINet {
				d.log.Debug("NAT table changed", "event", int(ev.Type))
				kick()
			}
		}
	}
}

// eventTable is the table an nftables event concerns, nil if none.
func eventTable(ev *nftables.MonitorEvent) *nftables.Table {
	switch x := ev.Data.(type) {
	case *nftables.Table:
		return x
	case *nftables.Chain:
		return x.Table
	case *nftables.Rule:
		return x.Table
	}
	return nil
}

type errClosed string

func (e errClosed) Error() string { return string(e) + " closed" }
