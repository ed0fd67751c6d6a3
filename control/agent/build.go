package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/cniconf"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/desired"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/fleet"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/members"
	"github.com/vxbgp/vxbgp/control/metrics"
	"github.com/vxbgp/vxbgp/control/peer"
	"github.com/vxbgp/vxbgp/control/registry"
	"github.com/vxbgp/vxbgp/control/routed"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// VXLANPort is the IANA VXLAN port (RFC 7348), what FRR and switches use.
const VXLANPort = 4789

// syncTimeout bounds how long a restarted agent keeps kernel entries that
// no peer has confirmed yet. Re-peering after a restart takes about 8 s
// (GoBGP's idle hold plus connect retry); the margin keeps a slow peer's
// entries while traffic still uses them.
const syncTimeout = 30 * time.Second

// host is what the agent derives from the config and the kernel at start.
type host struct {
	ul       overlay.Underlay
	routerID netip.Addr
	networks []evpn.Network
}

// build makes every part from the config, in dependency order; nothing
// runs yet. On error what was made is released.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger, parts Parts) (_ *agent, err error) {
	a := &agent{cfg: cfg, log: log, started: time.Now(), dp: parts.Dataplane, live: parts.Liveness}
	if a.host, err = resolveHost(cfg, parts.Dataplane); err != nil {
		return nil, err
	}
	store, err := ipam.Open(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("endpoint store %s: %w", cfg.StateDir, err)
	}
	if err := ipam.WriteNetworks(cfg.StateDir, a.networkInfo()); err != nil {
		return nil, fmt.Errorf("write networks: %w", err)
	}
	a.passes = metrics.NewReconcile()
	a.rec = overlay.NewReconciler(a.dp, overlay.ReconcilerOptions{Logger: log.With("component", "reconciler"),
		Beat: a.live.Beat("reconciler"), OnPass: a.passes.Observe})
	if a.sp, err = parts.NewSpeaker(ctx, a.bgpConfig()); err != nil {
		return nil, fmt.Errorf("bgp: %w", err)
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	var devices []overlay.Device
	for _, n := range a.host.networks {
		devices = append(devices, n.Device)
	}
	a.merge = desired.New(cfg.Mode, devices, a.rec)
	a.merge.SetNAT(desired.NAT(cfg.Networks))
	a.routed = routed.NewSource(routed.Config{
		Blocks:         a.blocks(),
		NextHop4:       a.host.ul.Addr,
		NextHop6:       a.nextHop6(),
		Subnets:        a.subnets(),
		ImportPrefixes: cfg.ImportPrefixes(),
		Logger:         log.With("component", "routed"),
		SyncTimeout:    syncTimeout,
		Beat:           a.live.Beat("unicast"),
	}, a.sp, a.merge.UpdateRoutes)
	listeners := []registry.Listener{a.routed}
	if cfg.Mode == config.ModeOverlay {
		a.evpn = evpn.NewSource(evpn.Config{
			ASN:         cfg.BGP.ASN,
			RouterID:    a.host.routerID,
			VTEP:        a.host.ul.Addr,
			Networks:    a.host.networks,
			Logger:      log.With("component", "evpn"),
			SyncTimeout: syncTimeout,
			Beat:        a.live.Beat("evpn"),
		}, a.sp, a.merge.UpdateEVPN)
		listeners = append(listeners, a.evpn)
	}
	a.reg = registry.New(store, parts.StoreResync, log.With("component", "endpoints"), listeners...)
	// Before any source runs: their first pass then advertises every
	// stored endpoint, before the first session comes up.
	if err := a.reg.Load(); err != nil {
		return nil, err
	}
	// Hosts found by discovery and Kubernetes are peered as the route
	// reflection role says (control/peer); static peers as configured.
	role := peer.Role{Mesh: cfg.BGP.MeshOn(), Reflector: cfg.BGP.RouteReflector.Enabled}
	sources := []peer.Source{peer.StaticOf(cfg.BGP.Peers)} // first: static settings win
	for _, src := range parts.PeerSources {
		sources = append(sources, role.Of(src))
	}
	if len(cfg.Discovery.Join) > 0 {
		if a.fleet, err = a.buildFleet(parts.Probe); err != nil {
			return nil, err
		}
		sources = append(sources, role.Of(a.fleet.Peers()))
	}
	if a.cni, err = cniconf.FromConfig(cfg.CNI, a.ready, log.With("component", "cniconf")); err != nil {
		return nil, err
	}
	a.peers = peer.NewSet(a.sp, a.peerTemplate, log.With("component", "peers"), sources...)
	// The API socket comes up before BGP converges so the CNI plugin can
	// announce pods at once.
	if a.api, err = localapi.Listen(cfg.API.Socket); err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	return a, nil
}

// resolveHost fills the config's host-dependent defaults and finds the
// underlay and the networks' devices.
func resolveHost(cfg *config.Config, dp Dataplane) (host, error) {
	var h host
	if err := cfg.Resolve(dp.DefaultAddr); err != nil {
		return h, err
	}
	addr, err := netip.ParseAddr(cfg.Underlay.Address)
	if err != nil {
		return h, fmt.Errorf("underlay.address %q: %w", cfg.Underlay.Address, err)
	}
	if h.ul, err = dp.Underlay(addr); err != nil {
		return h, err
	}
	if cfg.Mode == config.ModeRouted && cfg.DualStack() {
		if err := h.ul.RequireAddr6(); err != nil {
			return h, err
		}
	}
	if h.routerID, err = netip.ParseAddr(cfg.BGP.RouterID); err != nil {
		return h, fmt.Errorf("bgp.routerID %q: %w", cfg.BGP.RouterID, err)
	}
	h.networks, err = buildNetworks(cfg, h.ul)
	return h, err
}

// buildFleet makes discovery and masking: this host announces its name,
// underlay address, ASN, mode and every block.
func (a *agent) buildFleet(probe func(context.Context, netip.Addr) bool) (*fleet.Fleet, error) {
	self := members.Meta{Name: a.cfg.NodeName, Addr: a.host.ul.Addr, ASN: a.cfg.BGP.ASN, Mode: a.cfg.Mode,
		Reflector: a.cfg.BGP.RouteReflector.Enabled}
	for _, n := range a.cfg.Networks {
		for _, p := range n.Pools() {
			self.Blocks = append(self.Blocks, p.Block)
		}
	}
	return fleet.New(fleet.Config{Discovery: a.cfg.Discovery, Self: self, ProbePort: uint16(max(a.cfg.BGP.ListenPort, 1)),
		Probe: probe, Mask: a.merge.SetMasked, Remember: filepath.Join(a.cfg.StateDir, "members.json"), Logger: a.log})
}

func (a *agent) bgpConfig() bgp.Config {
	return bgp.Config{
		ASN:           a.cfg.BGP.ASN,
		RouterID:      a.host.routerID.String(),
		ListenPort:    int32(a.cfg.BGP.ListenPort),
		ListenAddress: a.host.ul.Addr.String(),
		Logger:        a.log.With("component", "bgp"),
		ImportUnicast: a.subnets(),
		ImportExact:   a.cfg.ImportPrefixes(),
		Reflector:     a.cfg.BGP.RouteReflector.Enabled,
	}
}

// peerTemplate is the session the agent runs with a peer, whatever its
// source.
func (a *agent) peerTemplate(p peer.Peer) bgp.PeerConfig {
	return bgp.PeerConfig{
		Address:      p.Address.String(),
		ASN:          p.ASN,
		Password:     p.Password,
		Port:         p.Port,
		MaxPrefixes:  p.MaxPrefixes,
		RRClient:     p.RRClient,
		ClusterID:    a.cfg.BGP.ClusterID(),
		LocalAddress: a.host.ul.Addr.String(),
		HoldTime:     a.cfg.BGP.HoldTime,
		GRTime:       a.cfg.BGP.GracefulRestartTime,
		// The same families in both modes: switching mode then never
		// changes the OPEN, and an overlay peer's EVPN routes simply go
		// unused by a routed host. ipv6 only with dual-stack networks,
		// so an IPv4-only host's OPEN stays as it was.
		Families: a.families(),
		// Between two agents exactly one side dials: a flapping session
		// idles and refuses connections, so two dialling sides can keep
		// missing each other (control/bgp). The higher address waits.
		// Peers of other kinds (FRR, switches) dial us anyway.
		Passive: p.Address.Less(a.host.ul.Addr),
	}
}
