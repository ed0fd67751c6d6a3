package bgp

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds how long a scrape waits for the speaker's peers.
const scrapeTimeout = 2 * time.Second

// Register adds the speaker's metrics to reg (RegisterMetrics).
func (s *Speaker) Register(reg prometheus.Registerer, sourceOf func(netip.Addr) string) {
	RegisterMetrics(reg, s.Peers, s.LimitStats, sourceOf)
}

// RegisterMetrics adds a speaker's metrics to reg, read from peers and
// limits on every scrape (a fake speaker passes its own). sourceOf names
// the peer source that configured a neighbour (static, discovered,
// kubernetes; nil or "": none).
//
//	vxbgp_bgp_peers_established                     BGP sessions in Established state
//	vxbgp_bgp_session_up{peer,peer_asn,source}      1 when the session is established, else 0
//	vxbgp_bgp_routes_received{peer,family}          routes the peer sent us, now
//	vxbgp_bgp_routes_accepted{peer,family}          of those, accepted by the import policy
//	vxbgp_bgp_routes_advertised{peer,family}        routes we send the peer, now
//	vxbgp_bgp_max_prefixes_exceeded_total           sessions closed for sending more than maxPrefixes
//	vxbgp_bgp_peers_prefix_limited                  peers held down for it now
//
// The per-peer series are built on each scrape from the speaker's current
// neighbours, so a removed peer leaves no stale series. When the speaker
// does not answer within 2 s they are left out and peers_established is 0.
func RegisterMetrics(reg prometheus.Registerer, peers func(context.Context) ([]PeerStatus, error), limits func() LimitStats,
	sourceOf func(netip.Addr) string) {
	reg.MustRegister(peerCollector{peers: peers, sourceOf: sourceOf})
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "vxbgp", Name: "bgp_max_prefixes_exceeded_total",
		Help: "BGP sessions closed with a Cease because the peer sent more routes than its maxPrefixes."},
		func() float64 { return float64(limits().Exceeded) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "vxbgp", Name: "bgp_peers_prefix_limited",
		Help: "BGP peers held down for their prefix limit, to be enabled again."},
		func() float64 { return float64(limits().Held) }))
}

var (
	descEstablished = prometheus.NewDesc("vxbgp_bgp_peers_established", "BGP sessions in Established state.", nil, nil)
	descSessionUp   = prometheus.NewDesc("vxbgp_bgp_session_up",
		"1 when the BGP session with the peer is established, else 0; source is the peer source that configured it.",
		[]string{"peer", "peer_asn", "source"}, nil)
	descReceived = prometheus.NewDesc("vxbgp_bgp_routes_received",
		"Routes the peer sent us that we hold now (Adj-RIB-In), by address family.", []string{"peer", "family"}, nil)
	descAccepted = prometheus.NewDesc("vxbgp_bgp_routes_accepted",
		"Routes received from the peer that the import policy accepted, by address family.", []string{"peer", "family"}, nil)
	descAdvertised = prometheus.NewDesc("vxbgp_bgp_routes_advertised",
		"Routes we send the peer now (our own: a host re-advertises nothing), by address family.", []string{"peer", "family"}, nil)
)

// peerCollector makes the per-peer series from the speaker's neighbours
// on every scrape.
type peerCollector struct {
	peers    func(context.Context) ([]PeerStatus, error)
	sourceOf func(netip.Addr) string
}

func (c peerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEstablished, descSessionUp, descReceived, descAccepted, descAdvertised} {
		ch <- d
	}
}

func (c peerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	ps, err := c.peers(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descEstablished, prometheus.GaugeValue, 0)
		return
	}
	n := 0
	for _, p := range ps {
		peer := p.Address.String()
		up := 0.0
		if p.Established() {
			n++
			up = 1
		}
		source := ""
		if c.sourceOf != nil {
			source = c.sourceOf(p.Address)
		}
		ch <- prometheus.MustNewConstMetric(descSessionUp, prometheus.GaugeValue, up, peer, strconv.FormatUint(uint64(p.ASN), 10), source)
		for _, f := range p.Families {
			ch <- prometheus.MustNewConstMetric(descReceived, prometheus.GaugeValue, float64(f.Received), peer, f.Family)
			ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.GaugeValue, float64(f.Accepted), peer, f.Family)
			ch <- prometheus.MustNewConstMetric(descAdvertised, prometheus.GaugeValue, float64(f.Advertised), peer, f.Family)
		}
	}
	ch <- prometheus.MustNewConstMetric(descEstablished, prometheus.GaugeValue, float64(n))
}
