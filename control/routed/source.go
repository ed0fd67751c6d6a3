package routed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/internal/srcloop"
	"github.com/vxbgp/vxbgp/control/localapi"
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
	SyncTimeout    time.Duration // default 10s
}

// Retries and sync checks; snapshots are paced by srcloop.Pacer.
const (
	retryDelay     = time.Second // after a failed AddUnicast
	syncCheckEvery = 500 * time.Millisecond
)

// Source is the routed-mode control plane: it advertises the host's blocks
// and turns the unicast routes it receives into kernel routes.
type Source struct {
	cfg     Config
	rules   rules
	sp      *bgp.Speaker
	publish func(map[netip.Prefix]overlay.Route)
	log     *slog.Logger
	warn    *lograte.Throttle

	// mu guards what the watch callback and Routes share with Run.
	mu         sync.Mutex
	rx         map[netip.Prefix][]bgp.UnicastPath // received path sets, our own included
	advertised bool                               // every block is in the speaker
	eor        map[string]map[string]bool         // family -> peers that sent End-of-RIB
	rxKick     chan struct{}                      // rx changed what we install
	hosts      []netip.Prefix                     // latest SetHostRoutes, validated
	hostAdv    map[netip.Prefix]netip.Addr        // host routes in the speaker -> next hop
	hostKick   chan struct{}                      // SetHostRoutes was called
	evKick     chan struct{}                      // an EOR or a peer came up: check Synced

	gate *srcloop.Gate
}

// NewSource returns a Source; nothing happens until Run. publish receives
// every snapshot (remote prefix -> route) on Run's goroutine; it must not
// modify it (the Source compares the next one with it).
func NewSource(c Config, sp *bgp.Speaker, publish func(map[netip.Prefix]overlay.Route)) *Source {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 10 * time.Second
	}
	c.Blocks = masked(c.Blocks)
	return &Source{
		cfg: c, rules: newRules(c), sp: sp, publish: publish, log: c.Logger, gate: srcloop.NewGate("unicast", c.Logger),
		warn:     lograte.New(c.Logger, 30*time.Second),
		rx:       map[netip.Prefix][]bgp.UnicastPath{},
		eor:      map[string]map[string]bool{},
		rxKick:   make(chan struct{}, 1),
		evKick:   make(chan struct{}, 1),
		hostKick: make(chan struct{}, 1),
		hostAdv:  map[netip.Prefix]netip.Addr{},
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

// SetHostRoutes hands over the full set of host routes to advertise
// besides the blocks (latest wins) and returns at once; Run adds and
// withdraws unicast routes to match, with NextHop4 or NextHop6 as next
// hop. Only /32 and /128 prefixes are taken (others, and those of a family
// without a next hop, are logged and skipped). The agent advertises the
// addresses of chained endpoints this way: they are outside every block,
// and their MAC is not behind the bridge. Ready does not wait for them.
func (s *Source) SetHostRoutes(ps []netip.Prefix) {
	var hosts []netip.Prefix
	for _, p := range ps {
		nh := s.cfg.NextHop4
		if p.Addr().Is6() {
			nh = s.cfg.NextHop6
		}
		switch {
		case !p.IsValid() || !p.IsSingleIP() || p.Addr().Is4In6() || p.Addr().Zone() != "":
			s.warn.Warn("host:"+p.String(), "host route ignored: not a /32 or /128", "prefix", p)
		case !nh.IsValid():
			s.warn.Warn("host:"+p.String(), "host route ignored: no next hop of its family", "prefix", p)
		default:
			hosts = append(hosts, p)
		}
	}
	s.mu.Lock()
	s.hosts = hosts
	s.mu.Unlock()
	srcloop.Kick(s.hostKick)
}

// Ready is closed once Run has put every block into the speaker. Call
// SetPeers after it: the first End-of-RIB we send tells graceful-restart
// peers to drop every stale route of ours we have not sent again.
func (s *Source) Ready() <-chan struct{} { return s.gate.Ready() }

// Synced is closed once the initial table is complete: every configured
// peer of each of our unicast families (ipv4, and ipv6 when a block,
// subnet or import prefix is IPv6) has sent its End-of-RIB for it, or
// SyncTimeout has passed since Run started (with no such peer configured,
// only the timeout closes it). Until then the agent must not delete
// kernel routes.
func (s *Source) Synced() <-chan struct{} { return s.gate.Synced() }

// Run advertises the blocks, watches the speaker's unicast routes and
// publishes the routes to install until ctx ends; call it once. The first
// snapshot, empty, goes out at once. Run leaves the blocks in the speaker
// on return: whether they are withdrawn is the speaker's shutdown decision
// (Close or Stop). It fails if the speaker is closed under it.
func (s *Source) Run(ctx context.Context) error {
	if err := s.cfg.validate(); err != nil {
		return fmt.Errorf("routed config: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	last := map[netip.Prefix]overlay.Route{}
	s.publish(last)

	watchErr := make(chan error, 1)
	go func() { watchErr <- s.sp.WatchUnicast(ctx, s.onRoute, s.onEOR, s.onPeer) }()
	defer func() {
		cancel()
		<-watchErr
	}()

	syncTimer := time.NewTimer(s.cfg.SyncTimeout)
	defer syncTimer.Stop()
	syncTick := time.NewTicker(syncCheckEvery)
	defer syncTick.Stop()
	pace := srcloop.NewPacer()
	defer pace.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()

	advertise, syncHosts := true, true
	for {
		if advertise {
			advertise = false
			if s.advertise(ctx) {
				s.gate.MarkReady()
			} else {
				retry.Reset(retryDelay)
			}
		}
		if syncHosts {
			syncHosts = false
			if !s.advertiseHosts(ctx) {
				retry.Reset(retryDelay)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			watchErr <- err // for the deferred wait
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("ended")
			}
			return fmt.Errorf("routed: bgp watch: %w", err)
		case <-retry.C:
			s.mu.Lock()
			advertise = !s.advertised
			s.mu.Unlock()
			syncHosts = true
		case <-s.hostKick:
			syncHosts = true
		case <-s.rxKick:
			pace.Changed()
		case <-pace.C():
			pace.Build(func() {
				s.mu.Lock()
				routes := s.rules.build(s.rx)
				s.mu.Unlock()
				if !maps.EqualFunc(routes, last, overlay.Route.Equal) {
					last = routes
					s.publish(routes)
				}
			})
		case <-s.evKick:
			s.checkSynced()
		case <-syncTick.C:
			s.checkSynced()
		case <-syncTimer.C:
			s.gate.MarkSynced("timeout")
		}
	}
}

// advertise puts every block into the speaker (AddUnicast replaces an
// existing path, so repeating it is harmless) and reports success.
func (s *Source) advertise(ctx context.Context) bool {
	ok := true
	for _, b := range s.cfg.Blocks {
		nh := s.cfg.NextHop4
		if b.Addr().Is6() {
			nh = s.cfg.NextHop6
		}
		if err := s.sp.AddUnicast(ctx, b, nh); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("block not advertised, retrying", "prefix", b, "err", err)
			}
			ok = false
		}
	}
	if ok {
		s.mu.Lock()
		s.advertised = true
		s.mu.Unlock()
		s.log.Info("blocks advertised", "blocks", s.cfg.Blocks)
	}
	return ok
}

// advertiseHosts makes the host routes in the speaker match the latest
// SetHostRoutes: adds first, then withdrawals. It reports success; what
// failed is retried.
func (s *Source) advertiseHosts(ctx context.Context) bool {
	s.mu.Lock()
	want := make(map[netip.Prefix]netip.Addr, len(s.hosts))
	for _, p := range s.hosts {
		nh := s.cfg.NextHop4
		if p.Addr().Is6() {
			nh = s.cfg.NextHop6
		}
		want[p] = nh
	}
	have := maps.Clone(s.hostAdv)
	s.mu.Unlock()
	ok := true
	for _, p := range slices.SortedFunc(maps.Keys(want), netip.Prefix.Compare) {
		if have[p] == want[p] {
			continue
		}
		if err := s.sp.AddUnicast(ctx, p, want[p]); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("host route not advertised, retrying", "prefix", p, "err", err)
			}
			ok = false
			continue
		}
		s.mu.Lock()
		s.hostAdv[p] = want[p]
		s.mu.Unlock()
		s.log.Debug("host route advertised", "prefix", p, "nexthop", want[p])
	}
	for _, p := range slices.SortedFunc(maps.Keys(have), netip.Prefix.Compare) {
		if _, keep := want[p]; keep {
			continue
		}
		if err := s.sp.DeleteUnicast(ctx, p); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("host route not withdrawn, retrying", "prefix", p, "err", err)
			}
			ok = false
			continue
		}
		s.mu.Lock()
		delete(s.hostAdv, p)
		s.mu.Unlock()
		s.log.Debug("host route withdrawn", "prefix", p)
	}
	return ok
}

func (s *Source) checkSynced() {
	if s.gate.IsSynced() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	fams := s.cfg.families()
	peers := make([][]string, len(fams))
	configured := 0
	for i, f := range fams {
		var n int
		var err error
		if peers[i], n, err = s.sp.EORPeers(ctx, f); err != nil {
			return
		}
		configured += n
	}
	if configured == 0 {
		return // only the timeout then
	}
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range fams {
		for _, p := range peers[i] {
			if !s.eor[f][p] {
				return
			}
			n++
		}
	}
	s.gate.MarkSynced("end-of-rib", "peers", n, "without-family", configured-n)
}

// onRoute runs on the speaker's watch goroutine: store the prefix's new
// path set, log what is dropped and why, poke Run. It never blocks on Run.
func (s *Source) onRoute(p netip.Prefix, paths []bgp.UnicastPath) {
	s.mu.Lock()
	old := s.rx[p]
	if len(paths) == 0 {
		delete(s.rx, p)
	} else {
		s.rx[p] = paths
	}
	s.mu.Unlock()
	oldRoute, oldV := s.rules.route(p, old)
	newRoute, newV := s.rules.route(p, paths)
	if !slices.Equal(old, paths) { // judge and log once per path set
		from := make([]string, 0, len(paths))
		for _, u := range paths {
			from = append(from, u.Peer)
		}
		switch newV {
		case outside:
			s.warn.Warn("outside", "route outside the subnets and import prefixes ignored (the import policy should have dropped it)",
				"prefix", p, "peer", from)
		case ownBlock:
			s.warn.Warn("block:"+p.String(), "route for our own block ignored", "prefix", p, "peer", from)
		case isSubnet:
			s.log.Debug("route for a whole subnet ignored: the bridge's connected route holds it", "prefix", p, "peer", from)
		case noNextHop:
			s.warn.Warn("nexthop:"+p.String(), "route without a usable next hop ignored (ours, link-local or of the other family)",
				"prefix", p, "peer", from, "nexthops", nextHops(paths))
		case install:
			if len(newRoute.Via) < len(paths) {
				s.log.Debug("next hops dropped", "prefix", p, "kept", newRoute.Via, "received", nextHops(paths))
			}
		}
	}
	if oldV != newV || !oldRoute.Equal(newRoute) {
		srcloop.Kick(s.rxKick)
	}
}

func nextHops(paths []bgp.UnicastPath) []netip.Addr {
	out := make([]netip.Addr, 0, len(paths))
	for _, u := range paths {
		out = append(out, u.NextHop)
	}
	return out
}

func (s *Source) onEOR(family, peer string) {
	if family != bgp.FamilyIPv4 && family != bgp.FamilyIPv6 {
		return
	}
	s.mu.Lock()
	if s.eor[family] == nil {
		s.eor[family] = map[string]bool{}
	}
	s.eor[family][peer] = true
	s.mu.Unlock()
	s.log.Debug("end-of-rib", "family", family, "peer", peer)
	srcloop.Kick(s.evKick)
}

func (s *Source) onPeer(peer string, up bool) {
	s.log.Debug("bgp peer", "peer", peer, "established", up)
	if up {
		srcloop.Kick(s.evKick)
	}
}

// Routes lists our advertised blocks and host routes and the received
// unicast paths, for
// `vxbgpctl routes`: Type ipv4 or ipv6, IP the prefix, Source "local" or
// the peer. Best marks the paths whose next hop is installed.
func (s *Source) Routes() []localapi.Route {
	s.mu.Lock()
	advertised := s.advertised
	hosts := maps.Clone(s.hostAdv)
	rx := make(map[netip.Prefix][]bgp.UnicastPath, len(s.rx))
	maps.Copy(rx, s.rx) // the path slices are replaced, never modified
	s.mu.Unlock()
	var out []localapi.Route
	if advertised {
		for _, b := range s.cfg.Blocks {
			nh := s.cfg.NextHop4
			if b.Addr().Is6() {
				nh = s.cfg.NextHop6
			}
			out = append(out, localapi.Route{Type: familyOf(b), IP: b.String(), NextHop: nh.String(), Source: "local", Best: true})
		}
	}
	for p, nh := range hosts {
		out = append(out, localapi.Route{Type: familyOf(p), IP: p.String(), NextHop: nh.String(), Source: "local", Best: true})
	}
	for p, paths := range rx {
		rt, v := s.rules.route(p, paths)
		for _, u := range paths {
			if u.Peer == "" {
				continue // our block or host route, listed above
			}
			r := localapi.Route{Type: familyOf(p), IP: p.String(), Source: u.Peer,
				Best: v == install && slices.Contains(rt.Via, u.NextHop)}
			if u.NextHop.IsValid() {
				r.NextHop = u.NextHop.String()
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b localapi.Route) int {
		pa, pb := netip.MustParsePrefix(a.IP), netip.MustParsePrefix(b.IP)
		return cmp.Or(cmp.Compare(a.Type, b.Type), pa.Addr().Compare(pb.Addr()), cmp.Compare(pa.Bits(), pb.Bits()),
			cmp.Compare(a.Source, b.Source), cmp.Compare(a.NextHop, b.NextHop))
	})
	return out
}

func familyOf(p netip.Prefix) string {
	if p.Addr().Is4() {
		return bgp.FamilyIPv4
	}
	return bgp.FamilyIPv6
}
