package agent

import (
	"context"
	"fmt"

	"github.com/vxbgp/vxbgp/control/metrics"
)

// serveMetrics serves /metrics, /healthz (the process is up) and /readyz
// (every source reported and the kernel matches: stale entries are gone).
func (a *agent) serveMetrics(ctx context.Context) error {
	reg := metrics.NewRegistry()
	gauge, counter := reg.Gauge, reg.Counter
	gauge("endpoints", "Local endpoints advertised.", func() float64 { return float64(a.reg.Len()) })
	gauge("fdb_entries", "Remote MAC FDB entries programmed.", func() float64 { _, n, _, _ := a.rec.Counts(); return float64(n) })
	gauge("flood_entries", "Remote VTEP flood entries programmed.", func() float64 { _, _, n, _ := a.rec.Counts(); return float64(n) })
	gauge("neigh_entries", "Remote neighbour entries programmed.", func() float64 { _, _, _, n := a.rec.Counts(); return float64(n) })
	gauge("synced", "1 once every source reported and stale entries may be removed.", func() float64 {
		if a.rec.Stats().Synced {
			return 1
		}
		return 0
	})
	a.sp.Register(reg, a.peers.SourceOf) // vxbgp_bgp_*: sessions, routes per peer, prefix limits
	counter("reconcile_passes_total", "Reconciler passes.", func() float64 { return float64(a.rec.Stats().Passes) })
	counter("reconcile_ops_total", "Kernel operations applied.", func() float64 { return float64(a.rec.Stats().OpsApplied) })
	counter("reconcile_errors_total", "Kernel operations that failed (retried).", func() float64 { return float64(a.rec.Stats().OpErrors) })
	reg.CounterMap("reconcile_repairs_total", "Objects restored after they changed behind the agent's back, by kind.", "kind", func() map[string]uint64 { return a.rec.Stats().Repairs })
	a.fleet.Register(reg) // each is nil when not running
	a.evpn.Register(reg)
	a.routed.Register(reg)
	return metrics.Serve(ctx, a.cfg.Metrics.Listen, reg, a.ready)
}

// ready is /readyz, the API status's ready and the CNI config's condition.
func (a *agent) ready() error {
	if st := a.rec.Stats(); !st.Synced || st.LastError != "" {
		return fmt.Errorf("synced=%t lastError=%s", st.Synced, st.LastError)
	}
	return nil
}
