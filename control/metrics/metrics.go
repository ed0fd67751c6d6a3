// Package metrics is vxbgpd's HTTP listener for Prometheus and health
// checks: /metrics from a registry, /healthz (the agent's loops turn over:
// what the caller's liveness check says) and /readyz (what the caller
// says: ready, or why not).
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is a registry with the Go runtime and process collectors, and
// helpers to add vxbgp_* gauges and counters computed on scrape.
type Registry struct{ *prometheus.Registry }

// NewRegistry returns a Registry with the runtime and process metrics.
func NewRegistry() Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return Registry{reg}
}

// Gauge adds vxbgp_<name>, read by f on every scrape.
func (r Registry) Gauge(name, help string, f func() float64) {
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "vxbgp", Name: name, Help: help}, f))
}

// Counter adds the counter vxbgp_<name>, read by f on every scrape.
func (r Registry) Counter(name, help string, f func() float64) {
	r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "vxbgp", Name: name, Help: help}, f))
}

// Rejected adds one series of vxbgp_routes_rejected_total{family,reason}:
// received routes a source refused, read by f on every scrape. Both
// sources (control/evpn, control/routed) register under this one name.
func Rejected(reg prometheus.Registerer, family, reason string, f func() float64) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "vxbgp", Name: "routes_rejected_total",
		Help:        "Received routes refused (nothing installed; outside_subnet: the MAC without its neighbour entry), by family and reason.",
		ConstLabels: prometheus.Labels{"family": family, "reason": reason}}, f))
}

// CounterMap adds the counters vxbgp_<name>{<label>="k"}, one per key k of
// the map f returns on every scrape.
func (r Registry) CounterMap(name, help, label string, f func() map[string]uint64) {
	r.MustRegister(counterMap{desc: prometheus.NewDesc("vxbgp_"+name, help, []string{label}, nil), f: f})
}

type counterMap struct {
	desc *prometheus.Desc
	f    func() map[string]uint64
}

func (c counterMap) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c counterMap) Collect(ch chan<- prometheus.Metric) {
	for k, v := range c.f() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), k)
	}
}

// Serve serves /metrics from reg, /healthz and /readyz on listen until ctx
// ends. ready returns nil when the agent is ready, or why it is not (the
// body of a 503); alive likewise for /healthz: nil while the agent's
// loops turn over, or which one is stuck (nil alive: always ok).
func Serve(ctx context.Context, listen string, reg Registry, ready, alive func() error) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if alive != nil {
			if err := alive(); err != nil {
				http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
