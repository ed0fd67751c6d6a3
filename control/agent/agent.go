// Package agent is vxbgpd's supervisor: it builds the parts the config
// asks for and runs them until the context ends, and serves the local API
// and metrics from what they report. It holds no logic of its own beyond
// the order parts start in, and never touches the kernel.
//
// Data flows one way: endpoints (the CNI plugin through the local API and
// the address store, gathered by control/registry) and BGP routes feed
// the sources (control/evpn in overlay mode, control/routed in both),
// which hand the speaker what to advertise and publish snapshots;
// control/desired combines the snapshots into the one desired overlay.State; the
// reconciler (overlay) is the only reader and writer of the kernel.
// Peers come from control/peer's sources: the static config and, with
// discovery.join, the hosts control/fleet discovers by gossip; fleet also
// masks the hosts it finds dead (control/desired drops their entries).
//
// Start-up order matters for graceful restart: our routes must all be in
// the speaker before the first session comes up (the End-of-RIB we send
// with our first table makes peers drop whatever stale route of ours we
// have not re-sent), and stale kernel entries stay until the received
// table is complete. On SIGTERM the agent returns without touching the
// kernel or sending a BGP NOTIFICATION: traffic keeps flowing, GR peers
// keep our routes, and the next start reconciles.
package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/cniconf"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/desired"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/fleet"
	"github.com/vxbgp/vxbgp/control/internal/srcloop"
	"github.com/vxbgp/vxbgp/control/kube"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/metrics"
	"github.com/vxbgp/vxbgp/control/peer"
	"github.com/vxbgp/vxbgp/control/registry"
	"github.com/vxbgp/vxbgp/control/routed"
	"github.com/vxbgp/vxbgp/internal/liveness"
	"github.com/vxbgp/vxbgp/internal/sdnotify"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
)

// Version is set by the build (-ldflags "-X ...agent.Version=...").
var Version = "dev"

// Dataplane is the kernel as the agent uses it: what the reconciler reads
// and writes, the watch that wakes it, and the underlay lookups of
// start-up (overlay/netlinkdp; overlay/overlaytest in tests).
type Dataplane interface {
	overlay.Dataplane
	Watch(ctx context.Context, kick func()) error
	DefaultAddr() (netip.Addr, error)
	Underlay(addr netip.Addr) (overlay.Underlay, error)
}

// Speaker is the BGP speaker as the agent uses it (control/bgp).
type Speaker interface {
	srcloop.Speaker
	peer.Speaker
	Watch(ctx context.Context, hs ...bgp.Handler) error
	WaitAdvertised(ctx context.Context) error
	Peers(ctx context.Context) ([]bgp.PeerStatus, error)
	Register(reg prometheus.Registerer, sourceOf func(netip.Addr) string) // its metrics; sourceOf labels each peer
	Close()
}

// Parts are what the agent runs on. Run uses the real kernel and GoBGP;
// tests hand in fakes.
type Parts struct {
	Dataplane   Dataplane
	NewSpeaker  func(ctx context.Context, c bgp.Config) (Speaker, error)
	StoreResync time.Duration // how often the store is read again (0: the registry's default)
	// Probe confirms a dead member's death (nil: TCP to its BGP port).
	Probe func(ctx context.Context, addr netip.Addr) bool
	// PeerSources come after bgp.peers, before discovery (control/kube's).
	PeerSources []peer.Source
	Liveness    *liveness.Monitor // the loops' heartbeats: /healthz, the watchdog (nil: none)
}

// Run runs the agent on this host's kernel until ctx ends. On return the
// kernel state is left in place, so traffic keeps flowing and the next
// start reconciles it.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	dp, err := netlinkdp.New(log.With("component", "netlinkdp"))
	if err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	defer dp.Close()
	return RunWith(ctx, cfg, log, Parts{
		Dataplane:  dp,
		NewSpeaker: func(ctx context.Context, c bgp.Config) (Speaker, error) { return bgp.New(ctx, c) },
		Liveness:   liveness.New(liveness.DefaultStall),
	})
}

// RunWith is Run on the given parts.
func RunWith(ctx context.Context, cfg *config.Config, log *slog.Logger, parts Parts) error {
	k, err := kube.Start(ctx, cfg, log, kube.Options{}) // kubernetes.enabled: cfg from the Node
	if err != nil || ctx.Err() != nil {
		return err
	}
	defer k.Close()
	parts.PeerSources = append(parts.PeerSources, k.PeerSources()...)
	a, err := build(ctx, cfg, log, parts)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx)
}

// agent is the set of running parts.
type agent struct {
	cfg     *config.Config
	log     *slog.Logger
	started time.Time
	host    host

	dp     Dataplane
	rec    *overlay.Reconciler
	passes *metrics.Reconcile // the reconciler's pass histograms
	sp     Speaker
	evpn   *evpn.Source   // overlay mode only
	routed *routed.Source // both modes: blocks, chained endpoints, received unicast routes
	merge  *desired.Merger
	reg    *registry.Registry
	peers  *peer.Set
	fleet  *fleet.Fleet // discovery and masking; nil without discovery.join
	cni    *cniconf.Writer
	api    net.Listener
	live   *liveness.Monitor
}

func (a *agent) close() {
	if a.api != nil {
		a.api.Close()
	}
	a.sp.Close()
}

// run starts every part and waits until ctx ends or one fails.
func (a *agent) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	part := func(name string, f func(context.Context) error) {
		g.Go(func() error {
			if err := f(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	part("reconciler", a.rec.Run)
	part("netlink watch", func(ctx context.Context) error { return a.dp.Watch(ctx, a.rec.Kick) })
	handlers := []bgp.Handler{a.routed.Handler()}
	if a.fleet != nil {
		handlers = append(handlers, a.fleet.Handler())
		part("fleet", a.fleet.Run)
	}
	if a.evpn != nil {
		handlers = append(handlers, a.evpn.Handler())
		part("evpn", a.evpn.Run)
	} else {
		a.merge.Publish() // routed mode: the devices need no source
	}
	part("routed", a.routed.Run)
	part("bgp watch", func(ctx context.Context) error { return a.sp.Watch(ctx, handlers...) })
	part("endpoints", a.reg.Run)
	part("api", func(ctx context.Context) error { return localapi.Serve(ctx, a.api, localapi.Handler(a)) })
	if a.cfg.Metrics.Listen != "" {
		part("metrics", a.serveMetrics)
	}
	part("bgp peers", a.startPeers)
	part("sync", a.awaitSynced)
	part("cni config", a.cni.Run) // installs the conflist once ready; a no-op without cni.conflistDest
	health := sdnotify.Health{Synced: func() bool { return a.rec.Stats().Synced }, Ready: a.ready, Alive: a.live.Check}
	part("systemd notify", func(ctx context.Context) error { return sdnotify.FromEnv().Run(ctx, health, a.log) })
	a.log.Info("vxbgpd running", "mode", a.cfg.Mode, "vtep", a.host.ul.Addr, "dev", a.host.ul.Dev,
		"asn", a.cfg.BGP.ASN, "peers", len(a.cfg.BGP.Peers), "networks", len(a.host.networks))
	err := g.Wait()
	if err != nil {
		a.log.Error("component failed", "err", err)
	} else {
		a.log.Info("stopping: kernel state and BGP routes stay in place for the next start")
	}
	return err
}

// startPeers brings the sessions up once our routes are in the speaker
// (see the package doc), then keeps the peers the union of the sources.
func (a *agent) startPeers(ctx context.Context) error {
	for _, ready := range a.milestones(srcloop.Milestones.Ready) {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil
		}
	}
	if err := a.sp.WaitAdvertised(ctx); err != nil {
		return nil // ctx ended or the speaker closed: the run is ending
	}
	a.log.Info("our routes are in the speaker: bringing up BGP sessions")
	return a.peers.Run(ctx)
}

// awaitSynced lets the reconciler delete once every source's initial
// table is complete: until then stale kernel entries keep traffic
// flowing.
func (a *agent) awaitSynced(ctx context.Context) error {
	for _, synced := range a.milestones(srcloop.Milestones.Synced) {
		select {
		case <-synced:
		case <-ctx.Done():
			return nil
		}
	}
	a.log.Info("initial BGP table complete: removing stale kernel entries")
	a.rec.MarkSynced()
	return nil
}

// milestones are one milestone of every source.
func (a *agent) milestones(of func(srcloop.Milestones) <-chan struct{}) []<-chan struct{} {
	out := []<-chan struct{}{of(a.routed)}
	if a.evpn != nil {
		out = append(out, of(a.evpn))
	}
	return out
}
