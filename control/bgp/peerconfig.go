package bgp

import (
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
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
	// RRClient: this speaker is the peer's route reflector (RFC 4456):
	// what it learns from the peer goes to every other iBGP peer, and
	// what it learns from any iBGP peer goes to the peer, with next hop
	// unchanged, ORIGINATOR_ID and ClusterID prepended to CLUSTER_LIST.
	RRClient bool
	// ClusterID is the reflector's CLUSTER_ID (IPv4) with RRClient; empty:
	// the router ID.
	ClusterID string
}

// String describes the session without its password, so that printing a
// PeerConfig (%v, %+v, slog) never shows it.
func (p PeerConfig) String() string {
	return fmt.Sprintf("{peer %s asn %d port %d local %s md5 %s families %v passive %t maxPrefixes %d rrClient %t}",
		p.Address, p.ASN, p.Port, p.LocalAddress, redacted(p.Password), p.Families, p.Passive, p.MaxPrefixes, p.RRClient)
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
	// reflectorDeferralTime is deferralTime toward a route reflector's
	// clients, whose export does depend on what it receives: a client
	// sent the table before the other clients are back would drop their
	// routes as stale. Clients re-dial within about a second (connectRetry),
	// so 5 s covers them; a client that never comes back costs the others
	// 5 s of new routes, not traffic (they keep the stale ones).
	reflectorDeferralTime = 5
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
	if p.RRClient && p.ClusterID != "" {
		id, err := netip.ParseAddr(p.ClusterID)
		if err != nil || !id.Is4() {
			return p, fmt.Errorf("peer %s cluster ID %q: must be an IPv4 address", p.Address, p.ClusterID)
		}
		p.ClusterID = id.String()
	}
	if !p.RRClient {
		p.ClusterID = ""
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
		p.Passive == o.Passive && p.MaxPrefixes == o.MaxPrefixes && slices.Equal(p.Families, o.Families) &&
		!p.reflectionChanged(o)
}

// reflectionChanged: GoBGP's UpdatePeer ignores the route-reflector
// settings (oc.Neighbor.NeedsResendOpenMessage does not look at them), so
// a change needs the neighbour deleted and added again.
func (p PeerConfig) reflectionChanged(o PeerConfig) bool {
	return p.RRClient != o.RRClient || p.ClusterID != o.ClusterID
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
	var rr *api.RouteReflector
	deferral := uint32(deferralTime)
	if p.RRClient {
		rr = &api.RouteReflector{RouteReflectorClient: true, RouteReflectorClusterId: p.ClusterID}
		deferral = reflectorDeferralTime
	}
	return &api.Peer{
		RouteReflector: rr,
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
			DeferralTime:        deferral,
			LocalRestarting:     restarting,
		},
		AfiSafis: afs,
	}
}
