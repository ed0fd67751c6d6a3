package evpn

// reject.go judges received routes that must not reach the kernel, and
// counts and logs them: a peer that keeps sending something we refuse must
// be visible (vxbgp_routes_rejected_total, one warning per kind per
// interval) without flooding the log.

import (
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vxbgp/vxbgp/control/metrics"
)

// judgement is why a received route contributes nothing (or, for
// outsideSubnet, no neighbour entry): the reason label of the metric.
type judgement int

const (
	applies       judgement = iota
	malformed               // cannot be decoded: treated as a withdrawal of its NLRI when that was readable
	unsupported             // well formed but not for us: EVPN types 1, 4, 5, 9, another encapsulation or PMSI type
	martianVTEP             // next hop or originator 0.0.0.0, loopback, multicast, broadcast
	ownVTEP                 // our own VTEP: the kernel must never tunnel to itself
	unknownVNI              // no route target names a VNI of ours
	badMAC                  // a type-2 for the zero, a multicast or the broadcast MAC
	badLabel                // a type-2 whose label (the VNI, RFC 8365) is 0
	outsideSubnet           // a type-2 IP outside the network's subnets: its MAC applies, no neighbour entry
	nJudgements
)

var judgementNames = [nJudgements]string{"", "malformed", "unsupported", "martian_vtep", "own_vtep", "unknown_vni", "bad_mac", "bad_label", "outside_subnet"}

func (j judgement) String() string { return judgementNames[j] }

// rejected counts received route versions by judgement (a refreshed route
// is not counted again).
type rejected [nJudgements]atomic.Uint64

// reject counts one route refused for j and logs it, at most once per
// interval per kind. A route for a VNI we do not have is normal in a mixed
// fleet (a leaf with more networks): Info, not Warn.
func (s *Source) reject(j judgement, msg string, args ...any) {
	s.rejected[j].Add(1)
	level := slog.LevelWarn
	if j == unknownVNI || j == unsupported {
		level = slog.LevelInfo
	}
	s.warn.Log(level, j.String(), msg, append(args, "reason", j.String())...)
}

// Rejected returns how many received routes were refused for reason (a
// label value of vxbgp_routes_rejected_total), for tests.
func (s *Source) Rejected(reason string) uint64 {
	for j := applies + 1; j < nJudgements; j++ {
		if j.String() == reason {
			return s.rejected[j].Load()
		}
	}
	return 0
}

// Register adds vxbgp_routes_rejected_total{family="evpn",reason} to reg.
// A nil Source (routed mode) registers nothing.
func (s *Source) Register(reg prometheus.Registerer) {
	if s == nil {
		return
	}
	for j := applies + 1; j < nJudgements; j++ {
		metrics.Rejected(reg, "evpn", j.String(), func() float64 { return float64(s.rejected[j].Load()) })
	}
}

// martian reports whether a is no address a VTEP can have: unspecified,
// "this network" (0/8), loopback, multicast or the limited broadcast. A
// loopback VTEP is accepted when ours is one too (several agents on one
// machine, as GoBGP accepts a loopback next hop over a loopback session).
func martian(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
		return true
	}
	if a.Is4() {
		b := a.As4()
		return b[0] == 0 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return false
}
