package routed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/internal/srcloop"
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/internal/liveness"
	"github.com/vxbgp/vxbgp/internal/lograte"
	"github.com/vxbgp/vxbgp/overlay"
)

// Config configures a Source.
type Config struct {
	// Blocks are this host's blocks (IPv4 and IPv6), advertised as unicast
	// routes with NextHop4 or NextHop6 as next hop.
	Blocks             []netip.Prefix
	NextHop4, NextHop6 netip.Addr
	// Subnets are the networks' subnets: received routes inside them, at
	// any length, are installed (bgp.Config.ImportUnicast must hold them).
	Subnets []netip.Prefix
	// ImportPrefixes are installed too, each exactly as given
	// (bgp.importPrefixes; bgp.Config.ImportExact must hold them).
	ImportPrefixes []netip.Prefix
	Logger         *slog.Logger
	SyncTimeout    time.Duration  // default 10s
	Beat           *liveness.Beat // the loop's heartbeat (nil: none)
}

// Owners of our paths in the speaker (bgp.Speaker.Advertise).
const (
	blocksOwner = "routed/blocks"
	hostOwner   = "routed/host/" // + endpoint key
)

// Source is the routed-mode control plane: it advertises the host's blocks
// and the addresses of its chained endpoints, and turns the unicast routes
// it receives into kernel routes.
type Source struct {
	// Ready is closed once Run has handed every block (and the host routes
	// of the endpoints put before Run started) to the speaker. Synced once
	// every configured peer of each of our unicast families (ipv4, and
	// ipv6 when a block, subnet or import prefix is IPv6) sent its
	// End-of-RIB for it (or SyncTimeout passed): until then the agent must
	// not delete kernel routes.
	srcloop.Milestones

	cfg      Config
	rules    rules
	sp       srcloop.Speaker
	loop     *srcloop.Loop
	publish  func(overlay.Delta)
	log      *slog.Logger
	warn     *lograte.Throttle
	rejected rejected // received path sets refused, by verdict

	blocks []bgp.Path // built at start, handed over once (loop only)

	hosts *srcloop.Inbox[endpoint.Key, []netip.Prefix] // the host routes each chained endpoint wants

	// mu guards what the watch callback and Routes share with the loop.
	mu         sync.Mutex
	rx         map[netip.Prefix][]bgp.UnicastPath // received path sets, our own included
	dirty      map[netip.Prefix]struct{}          // prefixes whose route may have changed since the last publish
	advertised bool                               // the blocks are handed to the speaker
	hostAdv    map[endpoint.Key][]netip.Prefix    // host routes handed to the speaker
}

// NewSource returns a Source; nothing happens until Run. publish receives
// the changes of the routes to install (overlay.Delta, Routes only) on
// Run's goroutine, in order. Feed the speaker's events to Handler.
func NewSource(c Config, sp srcloop.Speaker, publish func(overlay.Delta)) *Source {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Blocks = masked(c.Blocks)
	loop := srcloop.New(srcloop.Config{Name: "unicast", Families: c.families(), SyncTimeout: c.SyncTimeout, Logger: c.Logger, Beat: c.Beat}, sp)
	return &Source{
		Milestones: loop,
		cfg:        c, rules: newRules(c), sp: sp, loop: loop, publish: publish, log: c.Logger,
		warn:    lograte.New(c.Logger, 30*time.Second),
		hosts:   srcloop.NewInbox[endpoint.Key](slices.Equal[[]netip.Prefix], loop.KickLocal),
		rx:      map[netip.Prefix][]bgp.UnicastPath{},
		dirty:   map[netip.Prefix]struct{}{},
		hostAdv: map[endpoint.Key][]netip.Prefix{},
	}
}

func (c Config) validate() error {
	var errs []error
	addr := func(name string, a netip.Addr, v4 bool) {
		if !a.IsValid() || a.IsUnspecified() || a.Is4() != v4 || a.Is4In6() || a.Zone() != "" {
			errs = append(errs, fmt.Errorf("%s %s: not a usable address", name, a))
		}
	}
	has4, has6 := false, false
	for i, b := range c.Blocks {
		switch {
		case !b.IsValid():
			errs = append(errs, fmt.Errorf("blocks[%d]: not a prefix", i))
		case b.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("blocks[%d] %s: IPv4-mapped", i, b))
		case b.Addr().Is4():
			has4 = true
		default:
			has6 = true
		}
	}
	if has4 {
		addr("next hop (IPv4)", c.NextHop4, true)
	}
	if has6 {
		addr("next hop (IPv6)", c.NextHop6, false)
	}
	for i, p := range append(slices.Clone(c.Subnets), c.ImportPrefixes...) {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("subnet or import prefix %d: not a prefix", i))
		}
	}
	return errors.Join(errs...)
}

// families are the unicast families this source takes part in.
func (c Config) families() []string {
	var v4, v6 bool
	for _, p := range slices.Concat(c.Blocks, c.Subnets, c.ImportPrefixes) {
		if p.Addr().Is4() {
			v4 = true
		} else if p.IsValid() {
			v6 = true
		}
	}
	var out []string
	if v4 {
		out = append(out, bgp.FamilyIPv4)
	}
	if v6 {
		out = append(out, bgp.FamilyIPv6)
	}
	return out
}

// nextHop is the next hop of our routes of a's family (invalid if none).
func (c Config) nextHop(a netip.Addr) netip.Addr {
	if a.Is4() {
		return c.NextHop4
	}
	return c.NextHop6
}

// PutEndpoint takes one local endpoint (a CNI ADD) and returns at once. A
// chained endpoint (made by another plugin, e.g. ptp) lies outside every
// block and its MAC is not behind the bridge, so only a host route
// reaches it: each of its addresses is advertised as a /32 or /128 with
// NextHop4 or NextHop6 (addresses of a family without next hop are logged
// and skipped). Other endpoints are inside our blocks: nothing to do.
func (s *Source) PutEndpoint(ep endpoint.Endpoint) {
	var hosts []netip.Prefix
	if ep.Chained {
		for _, ip := range ep.IPs {
			p := netip.PrefixFrom(ip, ip.BitLen())
			switch {
			case !ip.IsValid() || ip.Is4In6() || ip.Zone() != "":
				s.warn.Warn("host:"+ip.String(), "chained endpoint address not advertised: not a plain address", "container", ep.ContainerID, "ip", ip)
			case !s.cfg.nextHop(ip).IsValid():
				s.warn.Warn("host:"+p.String(), "host route ignored: no next hop of its family", "prefix", p)
			case !slices.Contains(hosts, p):
				hosts = append(hosts, p)
			}
		}
	}
	if len(hosts) == 0 {
		s.hosts.Delete(ep.Key()) // nothing to advertise, or no longer
		return
	}
	s.hosts.Put(ep.Key(), hosts)
}

// DeleteEndpoint forgets endpoint k and returns at once.
func (s *Source) DeleteEndpoint(k endpoint.Key) { s.hosts.Delete(k) }

// Handler is what the speaker's Watch feeds: unicast path sets, End-of-RIB
// markers and sessions.
func (s *Source) Handler() bgp.Handler {
	return s.loop.Handler(bgp.Handler{Unicast: s.onRoute})
}

// Run advertises the blocks and host routes and publishes the routes to
// install until ctx ends; call it once. The routes received before Run
// go out at once. Run leaves our routes in the speaker on return: whether
// they are withdrawn is the speaker's shutdown decision (Close or Stop).
func (s *Source) Run(ctx context.Context) error {
	return s.loop.Run(ctx, srcloop.Hooks{Start: s.start, Local: s.syncLocal, Build: s.rebuild})
}

func (s *Source) start(context.Context) error {
	if err := s.cfg.validate(); err != nil {
		return fmt.Errorf("routed config: %w", err)
	}
	for _, b := range s.cfg.Blocks {
		p, err := bgp.NewUnicast(b, s.cfg.nextHop(b.Addr()))
		if err != nil {
			return fmt.Errorf("routed block: %w", err)
		}
		s.blocks = append(s.blocks, p)
	}
	s.publish(s.changes())
	return nil
}

// rebuild publishes the changes of the prefixes received since the last
// call, if any: O(changes).
func (s *Source) rebuild() {
	if d := s.changes(); !d.Empty() {
		s.publish(d)
	}
}

// changes returns each marked prefix's route to install, or its removal,
// and clears the marks.
func (s *Source) changes() overlay.Delta {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d overlay.Delta
	for p := range s.dirty {
		if rt, v := s.rules.route(p, s.rx[p]); v == install {
			d.SetRoute(rt)
		} else {
			d.DelRoute(p)
		}
	}
	if len(s.dirty) > 256 {
		s.dirty = map[netip.Prefix]struct{}{} // a cleared map keeps its size, and ranging over it costs it
	} else {
		clear(s.dirty)
	}
	return d
}

// syncLocal hands the speaker the blocks (the first time) and the host
// routes of the endpoints that changed.
func (s *Source) syncLocal(ctx context.Context) bool {
	if s.blocks != nil {
		if err := s.sp.Advertise(ctx, blocksOwner, s.blocks); err != nil {
			s.log.Warn("blocks not advertised yet: the speaker retries", "blocks", s.cfg.Blocks, "err", err)
		} else {
			s.log.Info("blocks advertised", "blocks", s.cfg.Blocks)
		}
		s.mu.Lock()
		s.advertised = true
		s.mu.Unlock()
		s.blocks = nil
	}
	var adverts []bgp.Advert // one speaker call for every endpoint that changed
	for k, v := range s.hosts.Take() {
		hosts := v.V // nil once deleted
		paths := make([]bgp.Path, 0, len(hosts))
		for _, h := range hosts {
			p, err := bgp.NewUnicast(h, s.cfg.nextHop(h.Addr()))
			if err != nil {
				s.warn.Warn("host:"+h.String(), "host route not advertised", "prefix", h, "err", err)
				continue
			}
			paths = append(paths, p)
		}
		adverts = append(adverts, bgp.Advert{Owner: hostOwner + k.String(), Paths: paths})
		s.mu.Lock()
		if len(hosts) == 0 {
			delete(s.hostAdv, k)
		} else {
			s.hostAdv[k] = hosts
		}
		s.mu.Unlock()
	}
	if len(adverts) > 0 {
		if err := s.sp.AdvertiseAll(ctx, adverts); err != nil {
			s.warn.Warn("hosts", "host routes not advertised yet: the speaker retries", "endpoints", len(adverts), "err", err)
		}
	}
	return true
}

// onRoute is the speaker's Handler.Unicast: store the prefix's new path
// set, log what is dropped and why, poke the loop. It never blocks on the
// loop.
func (s *Source) onRoute(p netip.Prefix, paths []bgp.UnicastPath) {
	newRoute, newV := s.rules.route(p, paths)
	s.mu.Lock()
	old := s.rx[p]
	if len(paths) == 0 {
		delete(s.rx, p)
	} else {
		s.rx[p] = paths
	}
	oldRoute, oldV := s.rules.route(p, old)
	changed := oldV != newV || !oldRoute.Equal(newRoute)
	if changed {
		s.dirty[p] = struct{}{}
	}
	s.mu.Unlock()
	if !slices.Equal(old, paths) { // judge and log once per path set
		s.judge(p, paths, newRoute, newV)
	}
	if changed {
		s.loop.KickRx()
	}
}

// judge logs why a received prefix is not installed as it came.
func (s *Source) judge(p netip.Prefix, paths []bgp.UnicastPath, rt overlay.Route, v verdict) {
	from := make([]string, 0, len(paths))
	for _, u := range paths {
		from = append(from, u.Peer)
	}
	if _, ok := rejectReasons[v]; ok {
		s.rejected[v].Add(1)
	}
	// One warning per kind per interval, not per prefix: a peer may send
	// thousands.
	switch v {
	case outside:
		s.warn.Warn("outside", "route outside the subnets and import prefixes ignored (the import policy should have dropped it)",
			"prefix", p, "peer", from)
	case ownBlock:
		s.warn.Warn("block", "route for our own block ignored", "prefix", p, "peer", from)
	case isSubnet:
		s.log.Debug("route for a whole subnet ignored: the bridge's connected route holds it", "prefix", p, "peer", from)
	case noNextHop:
		s.warn.Warn("nexthop", "route without a usable next hop ignored (ours, martian or of the other family)",
			"prefix", p, "peer", from, "nexthops", nextHops(paths))
	case install:
		if len(rt.Via) < len(paths) {
			s.log.Debug("next hops dropped", "prefix", p, "kept", rt.Via, "received", nextHops(paths))
		}
	}
}

func nextHops(paths []bgp.UnicastPath) []netip.Addr {
	out := make([]netip.Addr, 0, len(paths))
	for _, u := range paths {
		out = append(out, u.NextHop)
	}
	return out
}
