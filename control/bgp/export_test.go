package bgp

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
)

// Internals for the external tests (package bgp_test). Those tests are
// external because they use control/bgp/bgptest, which imports this
// package.

var (
	APIFamily      = apiFamily
	CheckPath      = checkPath
	DecodeUnicast  = decodeUnicast
	ErrNoNextHop   = errNoNextHop
	NewUnicastPath = unicastPath
)

// UnicastRoutes is unicastRoutes on a speaker that logs nowhere.
func UnicastRoutes(paths []*api.Path, onRoute func(netip.Prefix, []UnicastPath)) {
	s := &Speaker{log: slog.New(slog.DiscardHandler)}
	s.unicastRoutes(paths, onRoute)
}

// GRCapability is the graceful-restart capability s received from addr.
func GRCapability(t testing.TB, s *Speaker, addr string) *api.GracefulRestartCapability {
	t.Helper()
	var gr *api.GracefulRestartCapability
	err := s.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr}, func(p *api.Peer) {
		for _, c := range p.GetState().GetRemoteCap() {
			m := &api.GracefulRestartCapability{}
			if c.UnmarshalTo(m) == nil {
				gr = m
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return gr
}

// GoBGPWatchers is how many GoBGP watchers s has started.
func GoBGPWatchers(s *Speaker) int { return int(s.gobgpWatchers.Load()) }

// FailOps makes s fail adds and deletes as f says (nil: no failure); set
// it before s handles paths.
func FailOps(s *Speaker, f func(op, desc string) error) { s.failOp = f }

// WithoutMD5 makes s behave as on a kernel without TCP MD5.
func WithoutMD5(s *Speaker, why error) { s.md5 = why }

// Normalize is PeerConfig's defaults and checks, as SetPeers applies them.
func Normalize(p PeerConfig) (PeerConfig, error) { return p.normalize() }

// UpdatesReceived is how many UPDATE messages s received from addr.
func UpdatesReceived(t testing.TB, s *Speaker, addr string) uint64 {
	t.Helper()
	var n uint64
	err := s.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr}, func(p *api.Peer) {
		n = p.GetState().GetMessages().GetReceived().GetUpdate()
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
