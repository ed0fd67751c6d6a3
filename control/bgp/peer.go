package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// SetPeers makes the configured neighbours exactly peers: new ones are
// added, changed ones updated, missing ones deleted (with a Cease, so the
// removed peer drops our routes). It is level triggered: calling it again
// with the same list does nothing. Every peer is attempted; the errors of
// those that failed are joined, and they are retried on the next call.
//
// A peer added within its graceful-restart time of New gets
// LocalRestarting: it may still hold our routes from the previous run as
// stale, and the F bit in our OPEN tells it to keep them until our EOR.
func (s *Speaker) SetPeers(ctx context.Context, peers []PeerConfig) (err error) {
	if err := s.alive(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	want := make(map[string]PeerConfig, len(peers))
	for _, p := range peers {
		n, err := p.normalize()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n.Password != "" && s.md5 != nil {
			errs = append(errs, fmt.Errorf("peer %s: a TCP MD5 password is set, but %w", n.Address, s.md5))
			continue
		}
		if _, dup := want[n.Address]; dup {
			errs = append(errs, fmt.Errorf("peer %s: configured twice", n.Address))
			continue
		}
		want[n.Address] = n
	}
	// A reflector's eBGP peers are known to its export policy before
	// their sessions exist (reflect.go).
	if err := s.setEBGPPeers(ctx, s.peers, want); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.setEBGPPeers(ctx, s.peers)) }()
	for _, addr := range sortedKeys(want) {
		p := want[addr]
		cur, ok := s.peers[addr]
		switch {
		case !ok:
			restarting := time.Since(s.started) < time.Duration(p.GRTime)*time.Second
			if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, restarting)}); err != nil {
				errs = append(errs, fmt.Errorf("add peer %s: %w", addr, err))
				continue
			}
			s.log.Info("bgp peer added", "peer", addr, "asn", p.ASN, "families", p.Families, "restarting", restarting)
		case cur.reflectionChanged(p):
			// A client becoming a non-client or back: the session starts
			// over (a Cease; the peer's graceful restart keeps our routes).
			if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr}); err != nil {
				errs = append(errs, fmt.Errorf("delete peer %s to change its route reflection: %w", addr, err))
				continue
			}
			delete(s.peers, addr)
			if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, false)}); err != nil {
				errs = append(errs, fmt.Errorf("add peer %s: %w", addr, err))
				continue
			}
			s.log.Info("bgp peer re-added", "peer", addr, "asn", p.ASN, "rrClient", p.RRClient)
		case !cur.equal(p):
			if err := s.updatePeer(ctx, cur, p); err != nil {
				errs = append(errs, err)
				continue
			}
			s.log.Info("bgp peer updated", "peer", addr, "asn", p.ASN, "families", p.Families)
		}
		s.peers[addr] = p
	}
	for _, addr := range sortedKeys(s.peers) {
		if _, ok := want[addr]; ok {
			continue
		}
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr}); err != nil {
			errs = append(errs, fmt.Errorf("delete peer %s: %w", addr, err))
			continue
		}
		delete(s.peers, addr)
		s.log.Info("bgp peer deleted", "peer", addr)
	}
	return errors.Join(errs...)
}

// updatePeer applies a changed configuration. GoBGP's UpdatePeer itself
// re-creates the neighbour (a Cease, new OPEN) when anything negotiated at
// OPEN changes, but applies timer changes silently to the next session, so
// those get an explicit reset to take effect now.
func (s *Speaker) updatePeer(ctx context.Context, cur, p PeerConfig) error {
	resp, err := s.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: apiPeer(p, false)})
	if err != nil {
		return fmt.Errorf("update peer %s: %w", p.Address, err)
	}
	if cur.HoldTime != p.HoldTime {
		// Admin Reset is not mapped to Hard Reset: the peer keeps our routes.
		if err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: p.Address, Communication: "hold time changed"}); err != nil {
			return fmt.Errorf("reset peer %s: %w", p.Address, err)
		}
		return nil
	}
	if resp.GetNeedsSoftResetIn() {
		if err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: p.Address, Soft: true, Direction: api.ResetPeerRequest_IN}); err != nil {
			return fmt.Errorf("soft reset peer %s: %w", p.Address, err)
		}
	}
	return nil
}

// ConfiguredPeers returns the addresses of the configured neighbours that
// carry family, sorted. control/evpn uses it to know whose End-of-RIB
// completes the initial table.
func (s *Speaker) ConfiguredPeers(family string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, addr := range sortedKeys(s.peers) {
		if slices.Contains(s.peers[addr].Families, family) {
			out = append(out, addr)
		}
	}
	return out
}

// EORPeers returns, of the configured neighbours that carry family, those
// whose End-of-RIB for it the initial table must wait for: all of them
// but the ones whose session is up without the family, because the peer
// did not offer it in its OPEN (e.g. an FRR switch peering EVPN only):
// no End-of-RIB for it will ever come from them. configured counts all of
// them, so that a caller can tell "nobody to wait for" from "no peers".
func (s *Speaker) EORPeers(ctx context.Context, family string) (wait []string, configured int, err error) {
	peers := s.ConfiguredPeers(family)
	if len(peers) == 0 {
		return nil, 0, nil
	}
	rf, ok := routeFamilies[family]
	if !ok {
		return nil, 0, fmt.Errorf("address family %q: unknown", family)
	}
	without := map[string]bool{}
	err = s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st := p.GetState()
		if st.GetSessionState() != api.PeerState_ESTABLISHED {
			return
		}
		caps, err := apiutil.UnmarshalCapabilities(st.GetRemoteCap())
		if err != nil {
			return // cannot tell: keep waiting for it
		}
		addr := st.GetNeighborAddress()
		if addr == "" {
			addr = p.GetConf().GetNeighborAddress()
		}
		without[addr] = !offers(caps, rf)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list peers: %w", err)
	}
	for _, p := range peers {
		if !without[p] {
			wait = append(wait, p)
		}
	}
	return wait, len(peers), nil
}

// routeFamilies maps our family names to GoBGP's wire values.
var routeFamilies = map[string]bgppkt.RouteFamily{
	FamilyEVPN: bgppkt.RF_EVPN,
	FamilyIPv4: bgppkt.RF_IPv4_UC,
	FamilyIPv6: bgppkt.RF_IPv6_UC,
}

// offers reports whether an OPEN's capabilities include family rf. An OPEN
// without multiprotocol capabilities carries IPv4 unicast only (RFC 4760).
func offers(caps []bgppkt.ParameterCapabilityInterface, rf bgppkt.RouteFamily) bool {
	mp := false
	for _, c := range caps {
		if m, ok := c.(*bgppkt.CapMultiProtocol); ok {
			mp = true
			if m.CapValue == rf {
				return true
			}
		}
	}
	return !mp && rf == bgppkt.RF_IPv4_UC
}

// PeerStatus is one neighbour's session as the speaker sees it.
type PeerStatus struct {
	Address netip.Addr
	ASN     uint32
	// State as operators know it from FSM texts: idle, connect, active,
	// opensent, openconfirm, established.
	State     string
	Uptime    time.Duration  // since the session became established; 0 when it is not
	Received  uint64         // routes received, all families
	Accepted  uint64         // of those, accepted by the import policy
	Families  []FamilyStatus // per address family, sorted by Family
	LastError string         // the last error that ended or refused the session, "" if none
}

// FamilyStatus is one address family of a session.
type FamilyStatus struct {
	Family     string // l2vpn-evpn, ipv4-unicast, ipv6-unicast
	Received   uint64 // routes received
	Accepted   uint64 // of those, accepted by the import policy
	Advertised uint64 // routes sent
}

// Established reports whether the session is up.
func (p PeerStatus) Established() bool { return p.State == stateEstablished }

const stateEstablished = "established"

// Peers reports every neighbour's session, sorted by address.
func (s *Speaker) Peers(ctx context.Context) ([]PeerStatus, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	var out []PeerStatus
	now := time.Now()
	local := s.ours.byFamily()
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		out = append(out, peerStatus(p, now, local))
	})
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	s.errs.fill(out)
	return out, nil
}

// peerStatus is one neighbour's status; local counts our paths in GoBGP
// by family (FamilyEVPN, ...): what an established session sends.
func peerStatus(p *api.Peer, now time.Time, local map[string]uint64) PeerStatus {
	st := p.GetState()
	addr := st.GetNeighborAddress()
	if addr == "" {
		addr = p.GetConf().GetNeighborAddress()
	}
	out := PeerStatus{
		ASN:   st.GetPeerAsn(),
		State: sessionState(st.GetSessionState()),
	}
	out.Address, _ = netip.ParseAddr(addr) // GoBGP keys neighbours by a parsed address
	if out.ASN == 0 {
		out.ASN = p.GetConf().GetPeerAsn()
	}
	if st.GetSessionState() == api.PeerState_ESTABLISHED {
		if up := p.GetTimers().GetState().GetUptime(); up != nil && up.Seconds > 0 {
			out.Uptime = now.Sub(up.AsTime())
		}
	}
	out.Families = families(p, local)
	for _, f := range out.Families {
		out.Received += f.Received
		out.Accepted += f.Accepted
	}
	return out
}

// sessionState renders GoBGP's state the way operators know it from FSM
// texts: idle, connect, active, opensent, openconfirm, established.
func sessionState(s api.PeerState_SessionState) string {
	if s == api.PeerState_UNKNOWN {
		return "idle"
	}
	return strings.ToLower(s.String())
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
