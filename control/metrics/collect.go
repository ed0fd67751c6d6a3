package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/ipam"
)

// BuildInfo adds vxbgp_build_info{version,goversion,mode}, always 1: the
// join key for "which version runs where" (as Prometheus's own
// prometheus_build_info).
func BuildInfo(reg prometheus.Registerer, version, mode string) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "vxbgp", Name: "build_info",
		Help:        "1, labelled with the agent's version, the Go version it was built with and its mode (overlay, routed).",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version(), "mode": mode}},
		func() float64 { return 1 }))
}

var (
	descIPAMUsed = prometheus.NewDesc("vxbgp_ipam_addresses_used",
		"Addresses of this host's block of the network allocated to pods.", []string{"network", "family"}, nil)
	descIPAMFree = prometheus.NewDesc("vxbgp_ipam_addresses_free",
		"Addresses of this host's block of the network still free for pods (gateway, network and broadcast addresses excluded).",
		[]string{"network", "family"}, nil)
)

// IPAM adds vxbgp_ipam_addresses_{used,free}{network,family}, read from
// usage on every scrape (ipam.Store.Usage: a directory listing per
// network). A failed read leaves the series out.
func IPAM(reg prometheus.Registerer, usage func() ([]ipam.Usage, error)) {
	reg.MustRegister(ipamCollector(usage))
}

type ipamCollector func() ([]ipam.Usage, error)

func (c ipamCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descIPAMUsed; ch <- descIPAMFree }

func (c ipamCollector) Collect(ch chan<- prometheus.Metric) {
	us, err := c()
	if err != nil {
		return
	}
	for _, u := range us {
		family := "ipv4"
		if u.Block.Addr().Is6() {
			family = "ipv6"
		}
		ch <- prometheus.MustNewConstMetric(descIPAMUsed, prometheus.GaugeValue, float64(u.Used), u.Network, family)
		ch <- prometheus.MustNewConstMetric(descIPAMFree, prometheus.GaugeValue, u.Free, u.Network, family)
	}
}
