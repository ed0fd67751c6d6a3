package agent

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

// serveMetrics serves /metrics, /healthz (the process is up) and /readyz
// (every source reported and the kernel matches: stale entries are gone).
func (a *agent) serveMetrics(ctx context.Context) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "vxbgp", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "vxbgp", Name: name, Help: help}, f))
	}
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
	gauge("bgp_peers_established", "BGP sessions in Established state.", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ps, err := a.sp.Peers(ctx)
		if err != nil {
			return 0
		}
		n := 0
		for _, p := range ps {
			if p.Established() {
				n++
			}
		}
		return float64(n)
	})
	counter("reconcile_passes_total", "Reconciler passes.", func() float64 { return float64(a.rec.Stats().Passes) })
	counter("reconcile_ops_total", "Kernel operations applied.", func() float64 { return float64(a.rec.Stats().OpsApplied) })
	counter("reconcile_errors_total", "Kernel operations that failed (retried).", func() float64 { return float64(a.rec.Stats().OpErrors) })

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := a.rec.Stats()
		if !st.Synced || st.LastError != "" {
			http.Error(w, "not ready: synced="+boolString(st.Synced)+" lastError="+st.LastError, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	l, err := net.Listen("tcp", a.cfg.Metrics.Listen)
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

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
