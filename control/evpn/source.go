package evpn

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

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/internal/srcloop"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lograte"
	"github.com/vxbgp/vxbgp/overlay"
)

// Network is one overlay network: an L2 VNI.
type Network struct {
	Name    string
	VNI     uint32
	Subnet  netip.Prefix   // remote IPs outside it (and Subnet6) get no neighbour entry
	Subnet6 netip.Prefix   // the IPv6 subnet of a dual-stack network; zero: IPv4 only
	RDIndex uint16         // our RD is RouterID:RDIndex; unique per network
	Device  overlay.Device // template built by the agent, published as is
}

// Config configures a Source.
type Config struct {
	ASN         uint32
	RouterID    netip.Addr
	VTEP        netip.Addr
	Networks    []Network
	Logger      *slog.Logger
	SyncTimeout time.Duration // default 10s
}

// Retries and sync checks; snapshots are paced by srcloop.Pacer.
const (
	retryDelay     = time.Second // after a failed AddPath/DeletePath
	syncCheckEvery = 500 * time.Millisecond
)

// Source is the overlay-mode control plane: it originates a type-3 route
// per network and a type-2 route per local endpoint address, and turns the
// routes it receives into overlay.State snapshots.
type Source struct {
	cfg     Config
	sp      *bgp.Speaker
	publish func(overlay.State)
	log     *slog.Logger
	warn    *lograte.Throttle
	byVNI   map[uint32]*Network
	byName  map[string]*Network

	// The endpoints, by Endpoint.Key, and those changed since Run last
	// looked: a pass handles only what changed, so that 10,000 endpoints
	// arriving one at a time cost 10,000 small passes, not a quadratic sum.
	epMu    sync.Mutex
	eps     map[string]localapi.Endpoint
	epDirty map[string]struct{}
	epSet   bool
	epKick  chan struct{}

	// Run only: what each endpoint wants advertised, the union by route
	// key, and the route keys whose advertisement may not match yet.
	epWant  map[string][]localRoute
	want    map[string]*wanted
	pending map[string]struct{}
	last    overlay.State // the last snapshot published (Run only)

	// mu guards what the watch callback and Routes share with Run.
	mu     sync.Mutex
	rx     map[string]*entry        // received routes by key
	claims map[overlay.FDBKey]int32 // received routes per (VNI, MAC), for MAC mobility
	local  map[string]localRoute    // advertised routes by key (written by Run)
	eor    map[string]bool          // peers that sent End-of-RIB for evpn
	rxKick chan struct{}            // rx changed
	evKick chan struct{}            // an EOR or a peer came up: check Synced

	gate *srcloop.Gate
}

// NewSource returns a Source; nothing happens until Run. publish receives
// every snapshot on Run's goroutine; it must not modify it (the Source
// compares the next one with it).
func NewSource(c Config, sp *bgp.Speaker, publish func(overlay.State)) *Source {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 10 * time.Second
	}
	s := &Source{
		cfg: c, sp: sp, publish: publish, log: c.Logger, gate: srcloop.NewGate("evpn", c.Logger),
		warn:    lograte.New(c.Logger, 30*time.Second),
		byVNI:   map[uint32]*Network{},
		byName:  map[string]*Network{},
		epKick:  make(chan struct{}, 1),
		eps:     map[string]localapi.Endpoint{},
		epDirty: map[string]struct{}{},
		epWant:  map[string][]localRoute{},
		want:    map[string]*wanted{},
		pending: map[string]struct{}{},
		rx:      map[string]*entry{},
		claims:  map[overlay.FDBKey]int32{},
		local:   map[string]localRoute{},
		eor:     map[string]bool{},
		rxKick:  make(chan struct{}, 1),
		evKick:  make(chan struct{}, 1),
	}
	for i := range s.cfg.Networks {
		n := &s.cfg.Networks[i]
		s.byVNI[n.VNI] = n
		s.byName[n.Name] = n
	}
	return s
}

func (c Config) validate() error {
	var errs []error
	if c.ASN == 0 {
		errs = append(errs, errors.New("asn: must not be 0"))
	}
	if !c.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("router id %s: must be IPv4", c.RouterID))
	}
	if !c.VTEP.IsValid() || c.VTEP.IsUnspecified() {
		errs = append(errs, fmt.Errorf("vtep %s: not a usable address", c.VTEP))
	}
	vnis, rds, names := map[uint32]bool{}, map[uint16]bool{}, map[string]bool{}
	for i, n := range c.Networks {
		switch {
		case n.VNI == 0 || n.VNI > maxVNI:
			errs = append(errs, fmt.Errorf("networks[%d] vni %d: must be 1..%d", i, n.VNI, maxVNI))
		case vnis[n.VNI]:
			errs = append(errs, fmt.Errorf("networks[%d] vni %d: used twice", i, n.VNI))
		}
		// Two networks with one RD would give their type-3 routes the same
		// NLRI: one would replace the other.
		if rds[n.RDIndex] {
			errs = append(errs, fmt.Errorf("networks[%d] rd index %d: used twice", i, n.RDIndex))
		}
		if names[n.Name] {
			errs = append(errs, fmt.Errorf("networks[%d] name %q: used twice", i, n.Name))
		}
		if !n.Subnet.IsValid() {
			errs = append(errs, fmt.Errorf("networks[%d] subnet: missing", i))
		}
		vnis[n.VNI], rds[n.RDIndex], names[n.Name] = true, true, true
	}
	return errors.Join(errs...)
}

// SetEndpoints hands over the full set of local endpoints (latest wins)
// and returns at once; Run advertises and withdraws type-2 routes to match.
// Only the endpoints that differ from what the Source holds cost work, so
// the agent can hand over the whole store on every resync.
func (s *Source) SetEndpoints(eps []localapi.Endpoint) {
	next := make(map[string]localapi.Endpoint, len(eps))
	for _, ep := range eps {
		next[ep.Key()] = ep
	}
	s.epMu.Lock()
	for k := range s.eps {
		if _, ok := next[k]; !ok {
			s.epDirty[k] = struct{}{}
		}
	}
	for k, ep := range next {
		if old, ok := s.eps[k]; !ok || !sameEndpoint(old, ep) {
			s.epDirty[k] = struct{}{}
		}
	}
	s.eps, s.epSet = next, true
	s.epMu.Unlock()
	srcloop.Kick(s.epKick)
}

// PutEndpoint adds or replaces one endpoint (a CNI ADD) and returns at once.
func (s *Source) PutEndpoint(ep localapi.Endpoint) {
	k := ep.Key()
	s.epMu.Lock()
	old, ok := s.eps[k]
	s.eps[k] = ep
	changed := !ok || !sameEndpoint(old, ep)
	if changed {
		s.epDirty[k] = struct{}{}
	}
	s.epMu.Unlock()
	if changed {
		srcloop.Kick(s.epKick)
	}
}

// DeleteEndpoint removes the endpoint with key k (localapi.EndpointKey) and
// returns at once.
func (s *Source) DeleteEndpoint(k string) {
	s.epMu.Lock()
	_, ok := s.eps[k]
	delete(s.eps, k)
	if ok {
		s.epDirty[k] = struct{}{}
	}
	s.epMu.Unlock()
	if ok {
		srcloop.Kick(s.epKick)
	}
}

// Ready is closed once Run has originated the type-3 routes and the
// type-2 routes of the first SetEndpoints call. Call SetPeers after it:
// the first End-of-RIB we send tells graceful-restart peers to drop every
// stale route of ours that we have not sent again.
func (s *Source) Ready() <-chan struct{} { return s.gate.Ready() }

// Synced is closed once the initial table is complete: every configured
// EVPN peer has sent its End-of-RIB, or SyncTimeout has passed since Run
// started (with no peer configured, only the timeout closes it). Until
// then the agent must not delete kernel state.
func (s *Source) Synced() <-chan struct{} { return s.gate.Synced() }

// Run originates our routes, watches the speaker and publishes snapshots
// until ctx ends; call it once. It leaves our routes in the speaker on
// return: whether they are withdrawn is the speaker's shutdown decision
// (Close or Stop). It fails if the speaker is closed under it.
func (s *Source) Run(ctx context.Context) error {
	if err := s.cfg.validate(); err != nil {
		return fmt.Errorf("evpn config: %w", err)
	}
	imet, err := s.imetRoutes()
	if err != nil {
		return fmt.Errorf("evpn type-3 routes: %w", err)
	}
	s.setWant(imetKey, imet)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Devices first: pods need their bridge before any route arrives.
	s.last = buildState(s.cfg.Networks, nil)
	s.publish(s.last)

	watchErr := make(chan error, 1)
	go func() { watchErr <- s.sp.Watch(ctx, s.onPath, s.onEOR, s.onPeer) }()
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

	localDirty := true
	for {
		if localDirty {
			localDirty = false
			ok, done := s.syncLocal(ctx)
			if !ok {
				retry.Reset(retryDelay)
			}
			if done {
				s.gate.MarkReady()
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
			return fmt.Errorf("evpn: bgp watch: %w", err)
		case <-s.epKick:
			localDirty = true
		case <-retry.C:
			localDirty = true
		case <-s.rxKick:
			pace.Changed()
		case <-pace.C():
			pace.Build(func() {
				if s.rebuild() {
					s.publish(s.last)
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

// rebuild makes the snapshot from the received routes and reports
// whether it differs from the last one (Run only).
func (s *Source) rebuild() bool {
	s.mu.Lock()
	st := buildState(s.cfg.Networks, s.rx)
	s.mu.Unlock()
	if st.Equal(s.last) {
		return false
	}
	s.last = st
	return true
}

// syncLocal advertises what the changed endpoints want. done is false
// until the first SetEndpoints call has been taken into account.
func (s *Source) syncLocal(ctx context.Context) (ok, done bool) {
	s.epMu.Lock()
	dirty := s.epDirty
	s.epDirty = map[string]struct{}{}
	eps := make(map[string]localapi.Endpoint, len(dirty))
	for k := range dirty {
		if ep, ok := s.eps[k]; ok {
			eps[k] = ep
		}
	}
	set := s.epSet
	s.epMu.Unlock()
	for k := range dirty {
		var routes []localRoute
		if ep, ok := eps[k]; ok {
			routes = s.endpointRoutes(ep)
		}
		s.setWant(k, routes)
	}
	return s.advertise(ctx), set
}

func (s *Source) checkSynced() {
	if s.gate.IsSynced() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	peers, configured, err := s.sp.EORPeers(ctx, bgp.FamilyEVPN)
	if err != nil || configured == 0 {
		return // only the timeout then
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range peers {
		if !s.eor[p] {
			return
		}
	}
	s.gate.MarkSynced("end-of-rib", "peers", len(peers), "without-evpn", configured-len(peers))
}

// onPath runs on the speaker's watch goroutine: decode, update the store,
// poke Run. It never blocks on Run.
func (s *Source) onPath(p *api.Path) {
	if p.GetNeighborIp() == "<nil>" {
		return // our own path (see bgp.Speaker.Watch): nothing to decode
	}
	r, err := Decode(p)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			s.log.Debug("route ignored", "peer", p.GetNeighborIp(), "err", err)
		} else {
			s.warn.Warn("malformed", "malformed route ignored", "peer", p.GetNeighborIp(), "err", err)
		}
		return
	}
	if r.Peer == "" {
		return // our own path
	}
	if s.ingest(r) {
		srcloop.Kick(s.rxKick)
	}
}

// ingest applies one received route to the store and reports whether the
// desired state may have changed. A route for a key replaces the previous
// one (GoBGP sends no withdrawal when the best path changes).
func (s *Source) ingest(r Route) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.rx[r.Key]
	if old != nil {
		s.claim(old, -1)
	}
	if r.Withdraw {
		delete(s.rx, r.Key)
		return old != nil && (len(old.floods)+len(old.fdbs)+len(old.neighs) > 0)
	}
	e, j, outside := contributions(r, s.byVNI, s.cfg.VTEP)
	if old == nil || !sameRoute(old.r, r) { // judge and log once per route version
		switch j {
		case noVTEP:
			s.warn.Warn("novtep", "route without vtep ignored", "peer", r.Peer, "route", r.Key)
		case ownVTEP:
			s.log.Debug("route to our own vtep ignored", "peer", r.Peer, "route", r.Key)
		case unknownVNI:
			s.log.Debug("route for no local vni ignored", "peer", r.Peer, "vni", r.VNIs, "route", r.Key)
		}
		for _, vni := range outside {
			s.warn.Warn(fmt.Sprintf("outside:%d", vni), "remote ip outside the network's subnet: no neighbour entry",
				"peer", r.Peer, "vni", vni, "mac", r.MAC, "ip", r.IP, "vtep", r.NextHop)
		}
	}
	s.rx[r.Key] = e
	s.claim(e, 1)
	if old == nil {
		return j == applies
	}
	return !sameContributions(old, e)
}

func sameRoute(a, b Route) bool {
	return a.Key == b.Key && a.NextHop == b.NextHop && a.Originator == b.Originator && a.Seq == b.Seq &&
		a.IP == b.IP && slices.Equal(a.VNIs, b.VNIs)
}

func (s *Source) onEOR(family, peer string) {
	if family != bgp.FamilyEVPN {
		return
	}
	s.mu.Lock()
	s.eor[peer] = true
	s.mu.Unlock()
	s.log.Debug("end-of-rib", "peer", peer)
	srcloop.Kick(s.evKick)
}

func (s *Source) onPeer(peer string, up bool) {
	s.log.Debug("bgp peer", "peer", peer, "established", up)
	if up {
		srcloop.Kick(s.evKick)
	}
}

// Routes lists our advertised routes and the received ones, for
// `vxbgpctl routes`.
func (s *Source) Routes() []localapi.Route {
	s.mu.Lock()
	out := make([]localapi.Route, 0, len(s.local)+len(s.rx))
	for _, lr := range s.local {
		out = append(out, apiRoute(lr.route, "local"))
	}
	for _, e := range s.rx {
		out = append(out, apiRoute(e.r, e.r.Peer))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b localapi.Route) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.VNI, b.VNI), cmp.Compare(a.MAC, b.MAC),
			cmp.Compare(a.IP, b.IP), cmp.Compare(a.RD, b.RD), cmp.Compare(a.Source, b.Source))
	})
	return out
}

func apiRoute(r Route, source string) localapi.Route {
	out := localapi.Route{Type: r.Kind.String(), RD: r.RD, Source: source, Best: true}
	if len(r.VNIs) > 0 {
		out.VNI = r.VNIs[0]
	}
	switch r.Kind {
	case RouteType2:
		out.MAC = r.MAC.String()
		if r.IP.IsValid() {
			out.IP = r.IP.String()
		}
	case RouteType3:
		out.IP = r.Originator.String()
	}
	if r.NextHop.IsValid() {
		out.NextHop = r.NextHop.String()
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
