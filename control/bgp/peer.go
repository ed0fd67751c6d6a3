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

// PeerConfig is one BGP neighbour. Peer identity is the address: GoBGP
// cannot hold two sessions to one IP.
type PeerConfig struct {
	Address      string
	ASN          uint32
	Password     string   // TCP MD5 (RFC 2385)
	Port         uint16   // 0 => 179
	LocalAddress string   // source address; inbound sessions to another local address are refused
	HoldTime     uint32   // seconds; 0 => 9 (keepalive is a third)
	GRTime       uint32   // seconds peers keep our routes while we restart; 0 => 120
	Families     []string // FamilyEVPN, FamilyIPv4, FamilyIPv6; default evpn
	// Passive: never dial, wait for the peer to connect. Between two GoBGP
	// speakers exactly one side should be passive (e.g. the one with the
	// higher address): a flapping session idles (refusing connections)
	// for longer each time, and when both sides dial, each can keep
	// hitting the other's idle period. One dialling side also spares the
	// collision resolution.
	Passive bool
	// MaxPrefixes bounds the routes the peer may send, per address family;
	// 0 => DefaultMaxPrefixes. Beyond it the session is closed with a
	// Cease (see limit.go).
	MaxPrefixes uint32
}

// String describes the session without its password, so that printing a
// PeerConfig (%v, %+v, slog) never shows it.
func (p PeerConfig) String() string {
	return fmt.Sprintf("{peer %s asn %d port %d local %s md5 %s families %v passive %t maxPrefixes %d}",
		p.Address, p.ASN, p.Port, p.LocalAddress, redacted(p.Password), p.Families, p.Passive, p.MaxPrefixes)
}

// redacted says whether a password is set, never what it is.
func redacted(password string) string {
	if password == "" {
		return "none"
	}
	return "(set)"
}

// Session timers. GoBGP's defaults are made for routers with stable
// neighbours; ours come and go with hosts.
const (
	defaultHoldTime = 9
	defaultGRTime   = 120
	// connectRetry caps the dial backoff (seconds; third_party/gobgp's
	// patched connectLoop dials within 100 ms, then after 0.25, 0.5, 1 s,
	// then every connectRetry): a restarted peer that we dial is reached
	// within about a second of its listening. GoBGP's default of 120 s
	// would leave it unreachable for minutes unless it dials us.
	connectRetry = 1
	// idleHoldAfterReset applies after ResetPeer (default 30 s). After any
	// other session loss the patched GoBGP idles not at all after a stable
	// session, and from 0.25 s doubling up to 5 s for a flapping one
	// (third_party/gobgp/PATCHES.md).
	idleHoldAfterReset = 1
	// deferralTime bounds how long a restarting speaker holds back its
	// UPDATEs waiting for its peers' End-of-RIB (default 360 s). What we
	// export does not depend on what we receive (local routes only), so
	// the wait buys nothing; it is only a side effect of LocalRestarting,
	// which we want for the F bit. See the package documentation.
	deferralTime = 1
)

func (p PeerConfig) normalize() (PeerConfig, error) {
	a, err := netip.ParseAddr(p.Address)
	if err != nil {
		return p, fmt.Errorf("peer address %q: %w", p.Address, err)
	}
	p.Address = a.String() // GoBGP keys neighbours by this string
	if p.ASN == 0 {
		return p, fmt.Errorf("peer %s asn: must not be 0", p.Address)
	}
	if p.LocalAddress != "" {
		la, err := netip.ParseAddr(p.LocalAddress)
		if err != nil {
			return p, fmt.Errorf("peer %s local address %q: %w", p.Address, p.LocalAddress, err)
		}
		p.LocalAddress = la.String()
	}
	if p.HoldTime == 0 {
		p.HoldTime = defaultHoldTime
	}
	if p.HoldTime < 3 || p.HoldTime > 65535 {
		return p, fmt.Errorf("peer %s hold time %d: must be 3..65535 (RFC 4271)", p.Address, p.HoldTime)
	}
	if p.GRTime == 0 {
		p.GRTime = defaultGRTime
	}
	if p.MaxPrefixes == 0 {
		p.MaxPrefixes = DefaultMaxPrefixes
	}
	if p.GRTime > 4095 {
		return p, fmt.Errorf("peer %s graceful restart time %d: must be at most 4095 (RFC 4724)", p.Address, p.GRTime)
	}
	fams := p.Families
	if len(fams) == 0 {
		fams = []string{FamilyEVPN}
	}
	p.Families = nil
	for _, f := range fams {
		if _, err := apiFamily(f); err != nil {
			return p, fmt.Errorf("peer %s: %w", p.Address, err)
		}
		if !slices.Contains(p.Families, f) {
			p.Families = append(p.Families, f)
		}
	}
	return p, nil
}

func (p PeerConfig) equal(o PeerConfig) bool {
	return p.Address == o.Address && p.ASN == o.ASN && p.Password == o.Password && p.Port == o.Port &&
		p.LocalAddress == o.LocalAddress && p.HoldTime == o.HoldTime && p.GRTime == o.GRTime &&
		p.Passive == o.Passive && p.MaxPrefixes == o.MaxPrefixes && slices.Equal(p.Families, o.Families)
}

// apiPeer builds GoBGP's neighbour. p must be normalized. restarting sets
// LocalRestarting: the R and F bits in our OPEN (see the package doc).
func apiPeer(p PeerConfig, restarting bool) *api.Peer {
	afs := make([]*api.AfiSafi, 0, len(p.Families))
	for _, name := range p.Families {
		f, _ := apiFamily(name)
		afs = append(afs, &api.AfiSafi{
			Config: &api.AfiSafiConfig{Family: f, Enabled: true},
			// Per-AFI GR: without it no AFI tuple is advertised and peers
			// keep none of our routes across a restart.
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
			PrefixLimits:      &api.PrefixLimit{Family: f, MaxPrefixes: p.MaxPrefixes},
		})
	}
	// RFC 7606 error handling (TreatAsWithdraw) has no field in v3's API:
	// AddPeer and UpdatePeer turn it on for every peer (config/oc's
	// default), so a malformed ORIGIN, AS_PATH, NEXT_HOP, extended
	// community or PMSI attribute withdraws its UPDATE's routes and keeps
	// the session (control/evpn's hostile tests).
	return &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address,
			PeerAsn:         p.ASN,
			AuthPassword:    p.Password,
		},
		Transport: &api.Transport{LocalAddress: p.LocalAddress, RemotePort: uint32(p.Port), PassiveMode: p.Passive},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:           connectRetry,
			HoldTime:               uint64(p.HoldTime),
			KeepaliveInterval:      uint64(max(1, p.HoldTime/3)),
			IdleHoldTimeAfterReset: idleHoldAfterReset,
		}},
		GracefulRestart: &api.GracefulRestart{
			Enabled:             true,
			RestartTime:         p.GRTime,
			NotificationEnabled: true, // RFC 8538: a Cease other than Hard Reset keeps GR
			DeferralTime:        deferralTime,
			LocalRestarting:     restarting,
		},
		AfiSafis: afs,
	}
}

// SetPeers makes the configured neighbours exactly peers: new ones are
// added, changed ones updated, missing ones deleted (with a Cease, so the
// removed peer drops our routes). It is level triggered: calling it again
// with the same list does nothing. Every peer is attempted; the errors of
// those that failed are joined, and they are retried on the next call.
//
// A peer added within its graceful-restart time of New gets
// LocalRestarting: it may still hold our routes from the previous run as
// stale, and the F bit in our OPEN tells it to keep them until our EOR.
func (s *Speaker) SetPeers(ctx context.Context, peers []PeerConfig) error {
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
	State    string
	Uptime   time.Duration // since the session became established; 0 when it is not
	Received uint64        // routes received, all families
	Accepted uint64        // of those, accepted by the import policy
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
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		out = append(out, peerStatus(p, now))
	})
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	return out, nil
}

func peerStatus(p *api.Peer, now time.Time) PeerStatus {
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
	for _, af := range p.GetAfiSafis() {
		out.Received += af.GetState().GetReceived()
		out.Accepted += af.GetState().GetAccepted()
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
