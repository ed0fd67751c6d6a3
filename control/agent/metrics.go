package agent

import (
	"context"
	"fmt"

	"github.com/vxbgp/vxbgp/control/metrics"
	"github.com/vxbgp/vxbgp/ipam"
)

// serveMetrics serves /metrics, /healthz (the loops turn over) and /readyz
// (every source reported and the kernel matches: stale entries are gone).
func (a *agent) serveMetrics(ctx context.Context) error {
	reg := metrics.NewRegistry()
	reg.Gauge("endpoints", "Local endpoints advertised.", func() float64 { return float64(a.reg.Len()) })
	a.passes.Register(reg, a.rec)        // vxbgp_reconcile_*, the kernel entries' counts, synced
	a.sp.Register(reg, a.peers.SourceOf) // vxbgp_bgp_*: sessions, routes per peer, prefix limits
	metrics.BuildInfo(reg, Version, a.cfg.Mode)
	store, err := ipam.Open(a.cfg.StateDir) // the store build opened: only its directory
	if err != nil {
		return err
	}
	nets := a.networkInfo()
	metrics.IPAM(reg, func() ([]ipam.Usage, error) { return store.Usage(nets) })
	a.fleet.Register(reg) // each is nil when not running
	a.evpn.Register(reg)
	a.routed.Register(reg)
	return metrics.Serve(ctx, a.cfg.Metrics.Listen, reg, a.ready, a.live.Check)
}

// ready is /readyz, the API status's ready and the CNI config's condition.
func (a *agent) ready() error {
	if st := a.rec.Stats(); !st.Synced || st.LastError != "" {
		return fmt.Errorf("synced=%t lastError=%s", st.Synced, st.LastError)
	}
	return nil
}
