package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/overlay"
)

// passBuckets span a pass of a few objects (100 µs) to a full re-read of
// 100,000 entries under load (~30 s).
var passBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 15)

// Reconcile is the reconciler's metrics: its histograms, fed by its
// OnPass, and what its Stats and Counts say on every scrape (Register).
//
//	vxbgp_reconcile_duration_seconds   every pass: the kernel read when due, the diff, every operation
//	vxbgp_reconcile_latency_seconds    a desired-state change (the reconciler's Set) to the end of the pass
//	                                   that applied it without error
type Reconcile struct {
	duration, latency prometheus.Histogram
}

// NewReconcile returns the metrics with empty histograms; Observe is the
// reconciler's OnPass.
func NewReconcile() *Reconcile {
	return &Reconcile{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "vxbgp", Name: "reconcile_duration_seconds",
			Help: "Reconciler passes: reading the kernel (when due), diffing and applying every operation.", Buckets: passBuckets}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "vxbgp", Name: "reconcile_latency_seconds",
			Help:    "From a change of the desired state handed to the reconciler to the end of the pass that applied it to the kernel without error.",
			Buckets: passBuckets}),
	}
}

// Observe is the reconciler's OnPass.
func (r *Reconcile) Observe(p overlay.Pass) {
	r.duration.Observe(p.Duration.Seconds())
	if p.Latency > 0 {
		r.latency.Observe(p.Latency.Seconds())
	}
}

func (r *Reconcile) Describe(ch chan<- *prometheus.Desc) {
	r.duration.Describe(ch)
	r.latency.Describe(ch)
}
func (r *Reconcile) Collect(ch chan<- prometheus.Metric) {
	r.duration.Collect(ch)
	r.latency.Collect(ch)
}

// Register adds the reconciler's metrics to reg: the histograms, and
// what rec reports on every scrape.
func (r *Reconcile) Register(reg Registry, rec *overlay.Reconciler) {
	reg.MustRegister(r)
	gauge, counter := reg.Gauge, reg.Counter
	gauge("fdb_entries", "Remote MAC FDB entries programmed.", func() float64 { _, n, _, _ := rec.Counts(); return float64(n) })
	gauge("flood_entries", "Remote VTEP flood entries programmed.", func() float64 { _, _, n, _ := rec.Counts(); return float64(n) })
	gauge("neigh_entries", "Remote neighbour entries programmed.", func() float64 { _, _, _, n := rec.Counts(); return float64(n) })
	gauge("synced", "1 once every source reported and stale entries may be removed.", func() float64 {
		if rec.Stats().Synced {
			return 1
		}
		return 0
	})
	gauge("reconcile_resync_interval_seconds", "How long after the last re-read of the kernel the next periodic one falls due: the resync period, or 50 times the last re-read's duration if longer, at most 10 periods.",
		func() float64 { return rec.Stats().ResyncInterval.Seconds() })
	counter("reconcile_passes_total", "Reconciler passes.", func() float64 { return float64(rec.Stats().Passes) })
	counter("reconcile_ops_total", "Kernel operations applied.", func() float64 { return float64(rec.Stats().OpsApplied) })
	reg.CounterMap("reconcile_errors_total", "Reconcile failures (retried) by kind: the kernel object an operation failed on (device, neigh, fdb, flood, route, nat), or observe (reading the kernel).",
		"kind", func() map[string]uint64 { return rec.Stats().Errors })
	reg.CounterMap("reconcile_repairs_total", "Objects restored after they changed behind the agent's back, by kind.",
		"kind", func() map[string]uint64 { return rec.Stats().Repairs })
}
