// Package agent wires vxbgpd together for the chosen mode: the endpoint
// store, the BGP speaker and its EVPN source, the reconciler and the kernel,
// the local API and the metrics listener.
//
// Data flows one way: endpoints (CNI, store) and BGP routes feed the EVPN
// source, which publishes full overlay.State snapshots; the reconciler is the
// only writer to the kernel. On SIGTERM the agent returns without touching
// the kernel or sending a BGP NOTIFICATION: traffic keeps flowing, GR peers
// keep our routes, and the next start reconciles.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/routed"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
)

// Version is set by the build (-ldflags "-X ...agent.Version=...").
var Version = "dev"

// VXLANPort is the IANA VXLAN port (RFC 7348), what FRR and switches use.
const VXLANPort = 4789

// storeResync is how often the endpoint store on disk is re-read, to catch
// an announcement the CNI plugin could not deliver (agent busy or down).
const storeResync = 10 * time.Second

// syncTimeout bounds how long a restarted agent keeps kernel entries that
// no peer has confirmed yet (see evpn.Config.SyncTimeout).
const syncTimeout = 30 * time.Second

// Run runs the agent until ctx ends. On return the kernel state is left in
// place, so traffic keeps flowing and the next start reconciles it.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	a, err := newAgent(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx)
}

type agent struct {
	cfg     *config.Config
	log     *slog.Logger
	started time.Time

	h        *netlink.Handle
	ul       underlay
	routerID netip.Addr
	networks []evpn.Network

	dp    *netlinkdp.Dataplane
	rec   *overlay.Reconciler
	store *ipam.Store
	sp    *bgp.Speaker
	src   *evpn.Source   // overlay mode only
	rsrc  *routed.Source // both modes: blocks and chained endpoints as unicast routes
	merge *merger

	// mu guards the endpoints and orders their hand-over to the sources:
	// both happen under it, so a resync and an API call never overtake
	// each other on the way.
	mu        sync.Mutex
	endpoints map[string]localapi.Endpoint // by Endpoint.Key
	chained   map[string]localapi.Endpoint // the chained subset: host routes
	// apiSeq counts API changes; touched is the count at each endpoint's
	// last one. A store resync keeps the API's word for endpoints touched
	// after it began reading (the store may not show them yet).
	apiSeq  uint64
	touched map[string]uint64
}

func newAgent(cfg *config.Config, log *slog.Logger) (*agent, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	a := &agent{cfg: cfg, log: log, started: time.Now(), h: h, endpoints: map[string]localapi.Endpoint{},
		chained: map[string]localapi.Endpoint{}, touched: map[string]uint64{}}
	if err := cfg.Resolve(func() (netip.Addr, error) { return defaultRouteAddr(h) }); err != nil {
		h.Close()
		return nil, err
	}
	addr, err := netip.ParseAddr(cfg.Underlay.Address)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("underlay.address %q: %w", cfg.Underlay.Address, err)
	}
	if a.ul, err = findUnderlay(h, addr); err != nil {
		h.Close()
		return nil, err
	}
	if cfg.DualStack() {
		a.ul.Addr6, err = underlayAddr6(h, a.ul.Dev)
		if err != nil && cfg.Mode == config.ModeRouted {
			h.Close()
			return nil, err
		}
	}
	if a.routerID, err = netip.ParseAddr(cfg.BGP.RouterID); err != nil {
		h.Close()
		return nil, fmt.Errorf("bgp.routerID %q: %w", cfg.BGP.RouterID, err)
	}
	a.networks, err = a.buildNetworks()
	if err != nil {
		h.Close()
		return nil, err
	}
	return a, nil
}

func (a *agent) close() {
	if a.dp != nil {
		a.dp.Close()
	}
	a.h.Close()
}

// buildNetworks turns the config's networks into EVPN networks with their
// device templates: the exact devices the reconciler keeps in the kernel.
func (a *agent) buildNetworks() ([]evpn.Network, error) {
	var nets []evpn.Network
	for i, n := range a.cfg.Networks {
		subnet, _, gw := n.Prefixes()
		mtu := n.MTU
		if mtu == 0 {
			mtu = a.ul.MTU - overlay.Overhead
		}
		if mtu < 576 {
			return nil, fmt.Errorf("networks[%d]: underlay %s MTU %d leaves %d for pods, below 576", i, a.ul.Dev, a.ul.MTU, mtu)
		}
		nets = append(nets, evpn.Network{
			Name:    n.Name,
			VNI:     n.VNI,
			Subnet:  subnet,
			RDIndex: uint16(i + 1),
			Device: overlay.Device{
				VNI:        n.VNI,
				Network:    n.Name,
				Bridge:     overlay.BridgeName(n.VNI),
				VXLAN:      overlay.VXLANName(n.VNI),
				VTEP:       a.ul.Addr,
				Underlay:   a.ul.Dev,
				Port:       VXLANPort,
				MTU:        mtu,
				GatewayMAC: overlay.DefaultGatewayMAC,
				Gateway:    netip.PrefixFrom(gw, subnet.Bits()),
				// Both modes: the bridge answers for pods behind routes.
				ProxyARP: true,
			},
		})
		if subnet6, _, gw6, ok := n.Prefixes6(); ok {
			// Dual-stack: the bridge holds the IPv6 anycast gateway too,
			// and received IPv6 type-2 IPs inside subnet6 become IPv6
			// neighbours.
			nets[len(nets)-1].Subnet6 = subnet6
			nets[len(nets)-1].Device.Gateway6 = netip.PrefixFrom(gw6, subnet6.Bits())
		}
		if a.cfg.Mode == config.ModeRouted {
			nets[len(nets)-1].Device.VXLAN = "" // no tunnel in routed mode
		}
	}
	return nets, nil
}

// networkInfo is what the CNI plugin needs to attach pods while the agent
// is down: written to <stateDir>/networks.json on every start.
func (a *agent) networkInfo() []ipam.NetworkInfo {
	var out []ipam.NetworkInfo
	for i, n := range a.networks {
		_, block, gw := a.cfg.Networks[i].Prefixes()
		info := ipam.NetworkInfo{
			Name: n.Name, VNI: n.VNI, Bridge: n.Device.Bridge, MTU: n.Device.MTU,
			Pools: []ipam.Pool{{Subnet: n.Subnet, Block: block, Gateway: gw}},
		}
		if subnet6, block6, gw6, ok := a.cfg.Networks[i].Prefixes6(); ok {
			info.Pools = append(info.Pools, ipam.Pool{Subnet: subnet6, Block: block6, Gateway: gw6})
		}
		out = append(out, info)
	}
	return out
}

func (a *agent) run(ctx context.Context) error {
	log := a.log
	var err error
	if a.dp, err = netlinkdp.New(log.With("component", "netlinkdp")); err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	a.rec = overlay.NewReconciler(a.dp, overlay.ReconcilerOptions{Logger: log.With("component", "reconciler")})

	if a.store, err = ipam.Open(a.cfg.StateDir); err != nil {
		return fmt.Errorf("endpoint store %s: %w", a.cfg.StateDir, err)
	}
	if err := ipam.WriteNetworks(a.cfg.StateDir, a.networkInfo()); err != nil {
		return fmt.Errorf("write networks: %w", err)
	}

	a.sp, err = bgp.New(ctx, bgp.Config{
		ASN:           a.cfg.BGP.ASN,
		RouterID:      a.routerID.String(),
		ListenPort:    int32(a.cfg.BGP.ListenPort),
		ListenAddress: a.ul.Addr.String(),
		Logger:        log.With("component", "bgp"),
		ImportUnicast: a.subnets(),
		ImportExact:   a.cfg.ImportPrefixes(),
		Watchers:      a.watchers(),
	})
	if err != nil {
		return fmt.Errorf("bgp: %w", err)
	}
	defer a.sp.Close()

	var devices []overlay.Device
	for _, n := range a.networks {
		devices = append(devices, n.Device)
	}
	a.merge = newMerger(a.cfg.Mode, devices, a.rec.Set)
	if a.cfg.Mode == config.ModeRouted {
		// A host switched from overlay keeps its tunnel until synced.
		cur, err := a.dp.Observe(ctx)
		if err != nil {
			return fmt.Errorf("read kernel state: %w", err)
		}
		a.merge.keepVXLAN(cur)
	} else {
		a.src = evpn.NewSource(evpn.Config{
			ASN:      a.cfg.BGP.ASN,
			RouterID: a.routerID,
			VTEP:     a.ul.Addr,
			Networks: a.networks,
			Logger:   log.With("component", "evpn"),
			// Stale kernel entries stay until every peer has sent End-of-RIB
			// or this long has passed. Re-peering after a restart takes
			// about 8 s (GoBGP's idle hold plus connect retry); the margin
			// keeps a slow peer's entries while traffic still uses them.
			SyncTimeout: syncTimeout,
		}, a.sp, a.merge.setEVPN)
	}
	a.rsrc = routed.NewSource(routed.Config{
		Blocks:         a.blocks(),
		NextHop4:       a.ul.Addr,
		NextHop6:       a.nextHop6(),
		Subnets:        a.subnets(),
		ImportPrefixes: a.cfg.ImportPrefixes(),
		Logger:         log.With("component", "routed"),
		SyncTimeout:    syncTimeout,
	}, a.sp, a.merge.setRoutes)

	// The API socket comes up before BGP converges so the CNI plugin can
	// announce pods at once.
	l, err := localapi.Listen(a.cfg.API.Socket)
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	goRun("reconciler", a.rec.Run)
	if a.src != nil {
		goRun("evpn", a.src.Run)
	} else {
		a.merge.publish() // routed mode: the devices need no source
	}
	goRun("routed", a.rsrc.Run)
	if nets := a.ndNets(); len(nets) > 0 {
		wrote, err := enableIPv6Forwarding()
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		if wrote {
			log.Info("set sysctl", "sysctl", "net.ipv6.conf.all.forwarding", "value", 1)
		}
		goRun("nd proxy", newNDProxy(nets, log.With("component", "ndproxy")).Run)
	}
	goRun("netlink watch", func(ctx context.Context) error { return a.dp.Watch(ctx, a.rec.Kick) })
	goRun("api", func(ctx context.Context) error { return localapi.Serve(ctx, l, localapi.Handler(a)) })
	if a.cfg.Metrics.Listen != "" {
		goRun("metrics", a.serveMetrics)
	}

	if err := a.loadEndpoints(); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	// Our routes must be back in the speaker before any session comes up:
	// the first End-of-RIB we send makes GR peers drop every route of ours
	// they still hold as stale and we have not re-sent.
	for _, ready := range a.readyChans() {
		select {
		case <-ready:
		case <-ctx.Done():
			wg.Wait()
			return nil
		case err := <-errc:
			cancel()
			wg.Wait()
			return err
		}
	}
	if err := a.sp.SetPeers(ctx, a.peerConfigs()); err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("bgp peers: %w", err)
	}
	goRun("endpoint store", a.resyncStore)
	goRun("sync gate", func(ctx context.Context) error {
		for _, synced := range a.syncedChans() {
			select {
			case <-synced:
			case <-ctx.Done():
				return nil
			}
		}
		log.Info("initial BGP table complete: removing stale kernel entries")
		a.merge.markSynced()
		a.rec.MarkSynced()
		return nil
	})
	log.Info("vxbgpd running", "mode", a.cfg.Mode, "vtep", a.ul.Addr, "dev", a.ul.Dev,
		"asn", a.cfg.BGP.ASN, "peers", len(a.cfg.BGP.Peers), "networks", len(a.networks))

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping: kernel state and BGP routes stay in place for the next start")
	case runErr = <-errc:
		log.Error("component failed", "err", runErr)
	}
	cancel()
	wg.Wait()
	return runErr
}

func (a *agent) peerConfigs() []bgp.PeerConfig {
	var ps []bgp.PeerConfig
	for _, p := range a.cfg.BGP.Peers {
		ps = append(ps, bgp.PeerConfig{
			Address:      p.Address,
			ASN:          p.ASN,
			Password:     p.Password,
			Port:         p.Port,
			LocalAddress: a.ul.Addr.String(),
			HoldTime:     a.cfg.BGP.HoldTime,
			GRTime:       a.cfg.BGP.GracefulRestartTime,
			// The same families in both modes: switching mode then never
			// changes the OPEN, and an overlay peer's EVPN routes simply go
			// unused by a routed host. ipv6 only with dual-stack networks,
			// so an IPv4-only host's OPEN stays as it was.
			Families: a.families(),
			// Between two agents exactly one side dials: after a session
			// drops GoBGP idles 5 s and refuses connections, so two dialling
			// sides keep missing each other. The higher address waits.
			// Peers of other kinds (FRR, switches) dial us anyway.
			Passive: p.Addr().Less(a.ul.Addr),
		})
	}
	return ps
}

// loadEndpoints replaces the in-memory endpoints with the store's: the
// store on disk is the truth (the CNI plugin writes it before it calls
// us), except for endpoints the API changed while it was being read.
func (a *agent) loadEndpoints() error {
	seq0 := a.loadBegin()
	eps, err := a.store.Endpoints()
	if err != nil {
		return fmt.Errorf("read endpoint store: %w", err)
	}
	list := make([]localapi.Endpoint, 0, len(eps))
	for _, ep := range eps {
		list = append(list, localapi.FromEndpoint(ep))
	}
	a.loadFinish(seq0, list) // interim: the agent's registry takes typed endpoints
	return nil
}

// loadBegin notes the API change count before the store is read.
func (a *agent) loadBegin() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.apiSeq
}

// loadFinish makes eps, read from the store after loadBegin returned
// seq0, the endpoints, except where an API change came after seq0: the
// API's word stands for those until the next load.
func (a *agent) loadFinish(seq0 uint64, eps []localapi.Endpoint) {
	m := make(map[string]localapi.Endpoint, len(eps))
	for _, ep := range eps {
		m[ep.Key()] = ep
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, seq := range a.touched {
		if seq <= seq0 {
			delete(a.touched, k) // the store had it when we read
			continue
		}
		if ep, ok := a.endpoints[k]; ok {
			m[k] = ep
		} else {
			delete(m, k)
		}
	}
	a.endpoints = m
	clear(a.chained)
	list := make([]localapi.Endpoint, 0, len(m))
	for k, ep := range m {
		list = append(list, ep)
		if ep.Chained {
			a.chained[k] = ep
		}
	}
	if a.src != nil {
		a.src.SetEndpoints(list) // costs work only for what changed
	}
	a.publishHostRoutes()
}

// putEndpoint and delEndpoint are one API change each: O(1) for the EVPN
// source, host routes re-published only when a chained endpoint changed.
func (a *agent) putEndpoint(ep localapi.Endpoint) {
	k := ep.Key()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apiSeq++
	a.touched[k] = a.apiSeq
	old, had := a.endpoints[k]
	a.endpoints[k] = ep
	if a.src != nil {
		a.src.PutEndpoint(ep)
	}
	if ep.Chained || (had && old.Chained) {
		delete(a.chained, k)
		if ep.Chained {
			a.chained[k] = ep
		}
		a.publishHostRoutes()
	}
}

func (a *agent) delEndpoint(k string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apiSeq++
	a.touched[k] = a.apiSeq
	delete(a.endpoints, k)
	if a.src != nil {
		a.src.DeleteEndpoint(k)
	}
	if _, ok := a.chained[k]; ok {
		delete(a.chained, k)
		a.publishHostRoutes()
	}
}

// publishHostRoutes hands the addresses of chained endpoints to the routed
// source as /32 and /128 host routes (both modes; a.mu held). A chained
// endpoint (made by another plugin, e.g. ptp) lies outside every block and
// its MAC is not behind the bridge, so only a host route reaches it. The
// EVPN source skips chained endpoints itself.
func (a *agent) publishHostRoutes() {
	var hosts []netip.Prefix
	for _, ep := range a.chained {
		for _, text := range ep.IPs {
			ip, err := netip.ParseAddr(text)
			if err != nil {
				a.log.Warn("chained endpoint address not advertised", "container", ep.ContainerID, "ip", text, "err", err)
				continue
			}
			ip = ip.Unmap()
			hosts = append(hosts, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	a.rsrc.SetHostRoutes(hosts)
}

func (a *agent) resyncStore(ctx context.Context) error {
	t := time.NewTicker(storeResync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := a.loadEndpoints(); err != nil {
				a.log.Warn("endpoint store resync failed", "err", err)
			}
		}
	}
}

// watchers is how many sources watch the speaker: the routed one in both
// modes, the EVPN one in overlay mode. They share one GoBGP watcher.
func (a *agent) watchers() int {
	if a.cfg.Mode == config.ModeOverlay {
		return 2
	}
	return 1
}

func (a *agent) readyChans() []<-chan struct{} {
	var cs []<-chan struct{}
	if a.src != nil {
		cs = append(cs, a.src.Ready())
	}
	return append(cs, a.rsrc.Ready())
}

func (a *agent) syncedChans() []<-chan struct{} {
	var cs []<-chan struct{}
	if a.src != nil {
		cs = append(cs, a.src.Synced())
	}
	return append(cs, a.rsrc.Synced())
}

// ndNets are the bridges whose IPv6 neighbour solicitations for remote
// pods the agent answers: routed mode's dual-stack bridges.
func (a *agent) ndNets() map[string]ndNet {
	if !a.routed6() {
		return nil
	}
	nets := map[string]ndNet{}
	for i, n := range a.networks {
		if subnet6, block6, gw6, ok := a.cfg.Networks[i].Prefixes6(); ok {
			nets[n.Device.Bridge] = ndNet{Subnet6: subnet6, Block6: block6, Gateway6: gw6}
		}
	}
	return nets
}

// families are the BGP families of every peer session.
func (a *agent) families() []string {
	if a.cfg.DualStack() {
		return []string{"evpn", "ipv4", "ipv6"}
	}
	return []string{"evpn", "ipv4"}
}

// routed6 reports whether the routed plane carries IPv6 blocks: in routed
// mode with dual-stack networks. An overlay host reaches its peers' IPv6
// pods over EVPN, and installs no IPv6 block routes.
func (a *agent) routed6() bool {
	return a.cfg.Mode == config.ModeRouted && a.ul.Addr6.IsValid()
}

// nextHop6 is the next hop of the IPv6 blocks: none unless the routed
// plane carries IPv6.
func (a *agent) nextHop6() netip.Addr {
	if a.routed6() {
		return a.ul.Addr6
	}
	return netip.Addr{}
}

// subnets are the networks' subnets, plus their IPv6 subnets when the
// routed plane carries IPv6.
func (a *agent) subnets() []netip.Prefix {
	var ps []netip.Prefix
	for _, n := range a.cfg.Networks {
		subnet, _, _ := n.Prefixes()
		ps = append(ps, subnet)
	}
	if a.routed6() {
		for _, n := range a.cfg.Networks {
			if subnet6, _, _, ok := n.Prefixes6(); ok {
				ps = append(ps, subnet6)
			}
		}
	}
	return ps
}

// blocks are this host's blocks, plus its IPv6 blocks when the routed
// plane carries IPv6 (next hop ul.Addr6).
func (a *agent) blocks() []netip.Prefix {
	var ps []netip.Prefix
	for _, n := range a.cfg.Networks {
		_, block, _ := n.Prefixes()
		ps = append(ps, block)
	}
	if a.routed6() {
		for _, n := range a.cfg.Networks {
			if _, block6, _, ok := n.Prefixes6(); ok {
				ps = append(ps, block6)
			}
		}
	}
	return ps
}
