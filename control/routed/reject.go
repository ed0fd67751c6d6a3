package routed

// reject.go counts the received prefixes the rules refuse, for
// vxbgp_routes_rejected_total{family="unicast"}: a peer that keeps sending
// what we drop is visible without a log line per prefix.

import (
	"net/netip"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/control/metrics"
)

// rejectReasons are the verdicts counted, with their label values. A
// network's whole subnet is not: a router's aggregate for it is
// legitimate, and the bridge's connected route holds it anyway.
var rejectReasons = map[verdict]string{outside: "outside_prefixes", ownBlock: "own_block", noNextHop: "bad_nexthop"}

// rejected counts received path sets by verdict (a refresh of the same set
// is not counted again).
type rejected [noNextHop + 1]atomic.Uint64

// Rejected returns how many received path sets were refused for reason (a
// label value of vxbgp_routes_rejected_total), for tests.
func (s *Source) Rejected(reason string) uint64 {
	for v, r := range rejectReasons {
		if r == reason {
			return s.rejected[v].Load()
		}
	}
	return 0
}

// Register adds vxbgp_routes_rejected_total{family="unicast",reason} to
// reg.
func (s *Source) Register(reg prometheus.Registerer) {
	for v, reason := range rejectReasons {
		metrics.Rejected(reg, "unicast", reason, func() float64 { return float64(s.rejected[v].Load()) })
	}
}

// martian reports whether nh can be no router's address: unspecified,
// "this network" (0/8), loopback, multicast, link-local (it would need a
// device) or the limited broadcast.
func martian(nh netip.Addr) bool {
	if !nh.IsValid() || nh.IsUnspecified() || nh.IsLoopback() || nh.IsMulticast() || nh.IsLinkLocalUnicast() {
		return true
	}
	if nh.Is4() {
		b := nh.As4()
		return b[0] == 0 || nh == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return false
}
