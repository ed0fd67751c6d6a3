package evpn

import (
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
	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/internal/liveness"
	"github.com/vxbgp/vxbgp/internal/lograte"
	"github.com/vxbgp/vxbgp/overlay"
)

// Network is one overlay network: an L2 VNI.
type Network struct {
	Name string
	VNI  uint32
	// Subnets are the network's subnets, one per family (IPv4, then IPv6
	// on a dual-stack network): remote IPs outside them get no neighbour.
	Subnets []netip.Prefix
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
	SyncTimeout time.Duration  // default 10s
	Beat        *liveness.Beat // the loop's heartbeat (nil: none)
}

// Source is the overlay-mode control plane: it originates a type-3 route
// per network and a type-2 route per local endpoint address, and turns the
// routes it receives into overlay.State snapshots.
type Source struct {
	// Ready is closed once Run has handed the speaker the type-3 routes and
	// the type-2 routes of every endpoint put before Run started. Synced
	// once every configured EVPN peer sent its End-of-RIB (or SyncTimeout
	// passed): until then the agent must not delete kernel state.
	srcloop.Milestones

	cfg      Config
	sp       srcloop.Speaker
	loop     *srcloop.Loop
	publish  func(overlay.Delta)
	log      *slog.Logger
	warn     *lograte.Throttle
	rejected rejected // received routes refused, by judgement
	byVNI    map[uint32]*Network
	byName   map[string]*Network

	eps *srcloop.Inbox[endpoint.Key, endpoint.Endpoint] // the local endpoints

	imet []localRoute          // the type-3 routes (start)
	t2   map[uint32]*type2Base // per VNI, what its type-2 paths share (the loop's)

	// mu guards what the watch callback and Routes share with the loop.
	mu   sync.Mutex
	rx   map[rxKey]*entry                   // received routes by destination
	idx  index                              // the desired state's claims, and what changed
	adv  map[endpoint.Key][]localRoute      // handed to the speaker, per endpoint (written by the loop)
	sent map[string]map[endpoint.Key]*Route // the same by route key, for Routes
}

// Owners of our paths in the speaker (bgp.Speaker.Advertise).
const (
	imetOwner     = "evpn/type-3"
	endpointOwner = "evpn/endpoint/" // + endpoint key
)

// NewSource returns a Source; nothing happens until Run. publish receives
// the desired state's changes on Run's goroutine, in order: first the
// networks' devices, then the changes the received routes make (see
// overlay.Delta). Feed the speaker's events to Handler.
func NewSource(c Config, sp srcloop.Speaker, publish func(overlay.Delta)) *Source {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		cfg: c, sp: sp, publish: publish, log: c.Logger,
		loop:   srcloop.New(srcloop.Config{Name: "evpn", Families: []string{bgp.FamilyEVPN}, SyncTimeout: c.SyncTimeout, Logger: c.Logger, Beat: c.Beat}, sp),
		warn:   lograte.New(c.Logger, 30*time.Second),
		byVNI:  map[uint32]*Network{},
		byName: map[string]*Network{},
		rx:     map[rxKey]*entry{},
		idx:    newIndex(),
		adv:    map[endpoint.Key][]localRoute{},
		sent:   map[string]map[endpoint.Key]*Route{},
	}
	s.Milestones = s.loop
	s.eps = srcloop.NewInbox[endpoint.Key](endpoint.Endpoint.SameAdvert, s.loop.KickLocal)
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
		if len(n.Subnets) == 0 || slices.ContainsFunc(n.Subnets, func(p netip.Prefix) bool { return !p.IsValid() }) {
			errs = append(errs, fmt.Errorf("networks[%d] subnet: missing", i))
		}
		vnis[n.VNI], rds[n.RDIndex], names[n.Name] = true, true, true
	}
	return errors.Join(errs...)
}

// PutEndpoint adds or replaces one endpoint (a CNI ADD) and returns at
// once; the loop advertises its type-2 routes.
func (s *Source) PutEndpoint(ep endpoint.Endpoint) { s.eps.Put(ep.Key(), ep) }

// DeleteEndpoint removes the endpoint with key k and returns at once.
func (s *Source) DeleteEndpoint(k endpoint.Key) { s.eps.Delete(k) }

// Handler is what the speaker's Watch feeds: received paths, End-of-RIB
// markers and sessions.
func (s *Source) Handler() bgp.Handler {
	return s.loop.Handler(bgp.Handler{Received: s.onReceived})
}

// Run originates our routes and publishes snapshots until ctx ends; call
// it once. It leaves our routes in the speaker on return: whether they are
// withdrawn is the speaker's shutdown decision (Close or Stop).
func (s *Source) Run(ctx context.Context) error {
	return s.loop.Run(ctx, srcloop.Hooks{Start: s.start, Local: s.syncLocal, Build: s.rebuild})
}

func (s *Source) start(context.Context) error {
	if err := s.cfg.validate(); err != nil {
		return fmt.Errorf("evpn config: %w", err)
	}
	imet, err := s.imetRoutes()
	if err != nil {
		return fmt.Errorf("evpn type-3 routes: %w", err)
	}
	s.imet = imet
	// Devices first: pods need their bridge before any route arrives.
	var d overlay.Delta
	for _, dev := range buildState(s.cfg.Networks, nil).Devices {
		d.SetDevice(dev)
	}
	s.mu.Lock()
	d.Append(s.idx.take()) // routes received before Run
	s.mu.Unlock()
	s.publish(d)
	return nil
}

// rebuild publishes the changes the routes received since the last call
// made, if any: O(changes).
func (s *Source) rebuild() {
	s.mu.Lock()
	d := s.idx.take()
	s.mu.Unlock()
	if !d.Empty() {
		s.publish(d)
	}
}

// syncLocal hands the speaker the type-3 routes (the first time) and the
// type-2 routes of the endpoints that changed. It is always ready: the
// agent puts the stored endpoints before Run starts.
func (s *Source) syncLocal(ctx context.Context) bool {
	if s.imet != nil {
		if err := s.sp.Advertise(ctx, imetOwner, bgpPaths(s.imet)); err != nil {
			s.log.Warn("type-3 routes not advertised yet", "err", err)
		}
		s.setSent(endpoint.Key{}, nil, s.imet)
		s.imet = nil
	}
	// Every endpoint that changed goes to the speaker in one call: a burst
	// of CNI ADDs reaches the peers in a few UPDATEs, not one per route.
	changed := s.eps.Take()
	var adverts []bgp.Advert
	for _, k := range slices.SortedFunc(maps.Keys(changed), endpoint.Compare) {
		var routes []localRoute
		if ep := changed[k]; ep.OK {
			routes = s.endpointRoutes(ep.V)
		}
		old := s.adv[k]
		if sameBuild(old, routes) {
			continue // nothing to tell, not even a withdrawal of nothing
		}
		adverts = append(adverts, bgp.Advert{Owner: endpointOwner + k.String(), Paths: bgpPaths(routes)})
		s.setSent(k, old, routes)
	}
	if len(adverts) > 0 {
		if err := s.sp.AdvertiseAll(ctx, adverts); err != nil {
			s.warn.Warn("advertise", "endpoint routes not advertised yet: the speaker retries", "endpoints", len(adverts), "err", err)
		}
	}
	return true
}

// Routes lists the routes we advertise (Peer "") and the received ones,
// for `vxbgpctl routes`, in no particular order.
func (s *Source) Routes() []Route {
	s.mu.Lock()
	out := make([]Route, 0, len(s.sent)+len(s.rx))
	for _, owners := range s.sent {
		for _, r := range owners {
			out = append(out, *r)
			break // one line per route, however many endpoints claim it
		}
	}
	for k, e := range s.rx {
		out = append(out, e.route(k))
	}
	s.mu.Unlock()
	return out
}
