package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgp "github.com/osrg/gobgp/v3/pkg/server"
)

// Config configures the embedded speaker.
type Config struct {
	ASN      uint32
	RouterID string // IPv4 dotted quad
	// ListenPort: 0 => 179, -1 => don't listen (outbound sessions only).
	ListenPort int32
	// ListenAddress: "" => all addresses (0.0.0.0 and ::).
	ListenAddress string
	Logger        *slog.Logger
	// ImportUnicast: ipv4/ipv6 unicast routes accepted from peers when
	// inside one of these prefixes, at any length (routed mode: the
	// networks' subnets). EVPN is always accepted.
	ImportUnicast []netip.Prefix
	// ImportExact: unicast routes accepted from peers when equal to one of
	// these prefixes (bgp.importPrefixes, e.g. 0.0.0.0/0). Nothing else is
	// accepted: with both nil, no unicast route from a peer is.
	ImportExact []netip.Prefix
	// PrefixLimitRestart: how long a peer that sent more routes than its
	// MaxPrefixes stays down before it is enabled again; 0 => 60 s.
	PrefixLimitRestart time.Duration
	// Reflector exports what iBGP peers sent (to iBGP peers only), as a
	// route reflector must (reflect.go); PeerConfig.RRClient marks its
	// clients. Without it only our own routes are exported.
	Reflector bool
}

// ErrClosed is returned by calls on a speaker after Close or Stop.
var ErrClosed = errors.New("bgp speaker closed")

// Speaker is the embedded GoBGP server. Its methods are safe for
// concurrent use.
type Speaker struct {
	log     *slog.Logger
	srv     *gobgp.BgpServer
	started time.Time

	// life ends with Close or Stop; it bounds every Watch and the
	// advertiser's retries. wmu orders Watch's registration against
	// Close's wait.
	life    context.Context
	cancel  context.CancelFunc
	wmu     sync.Mutex
	watches sync.WaitGroup
	// gobgpWatchers counts GoBGP watchers started, for tests.
	gobgpWatchers atomic.Int32

	adv advertiser // what Advertise's owners want in GoBGP
	// failOp, when set (tests), fails the add or delete of a path whose
	// NLRI text it names, as GoBGP refusing it would.
	failOp func(op, desc string) error

	md5 error // why a password cannot be used (MD5Supported), nil if it can

	lim  limits         // peers held down for their prefix limit (limit.go)
	errs *sessionErrors // each session's last error (lasterror.go)
	ours localPaths     // the destinations GoBGP holds a path of ours for (status.go)

	mu      sync.Mutex // serialises SetPeers and Stop
	peers   map[string]PeerConfig
	stopped bool
	// reflector: Config.Reflector; ebgp is its eBGP neighbour set as
	// last set (reflect.go), asn ours.
	reflector bool
	ebgp      []string
	asn       uint32
}

// New starts a speaker: GoBGP's server loop, the global configuration and
// the global policies, in that order, so that no peer can exist before the
// policies do. ctx bounds only these start-up calls; the speaker lives
// until Close or Stop.
//
// GoBGP v3's Serve loop has no way to end: one goroutine per speaker stays
// until the process exits, even after Stop (fixed only in v4). Run one
// speaker per process: GoBGP keeps its route-selection options in package
// variables that StartBgp writes and every route update reads
// (server.go:2470, internal/pkg/table/table_manager.go:309), so speakers
// sharing a process (tests) must all be created before any of them
// handles routes.
func New(ctx context.Context, c Config) (*Speaker, error) {
	if c.ASN == 0 {
		return nil, errors.New("bgp asn: must not be 0")
	}
	rid, err := netip.ParseAddr(c.RouterID)
	if err != nil || !rid.Is4() {
		return nil, fmt.Errorf("bgp router id %q: must be an IPv4 address", c.RouterID)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// UseMultiplePaths makes the BEST watch report every path that ties
	// with the best one (ECMP); see Handler.Unicast.
	g := &api.Global{Asn: c.ASN, RouterId: rid.String(), ListenPort: c.ListenPort, UseMultiplePaths: true}
	if c.ListenAddress != "" {
		la, err := netip.ParseAddr(c.ListenAddress)
		if err != nil {
			return nil, fmt.Errorf("bgp listen address %q: %w", c.ListenAddress, err)
		}
		g.ListenAddresses = []string{la.String()}
	}

	errs := newSessionErrors()
	logger := newSlogAdapter(log.With("lib", "gobgp"))
	logger.hook = errs.seen
	srv := gobgp.NewBgpServer(gobgp.LoggerOption(logger))
	go srv.Serve() // every API call is a message to this loop: it must run first
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		return nil, fmt.Errorf("start bgp as %d router-id %s port %d: %w", c.ASN, c.RouterID, c.ListenPort, err)
	}
	if err := installPolicies(ctx, srv, c.ImportUnicast, c.ImportExact, c.Reflector); err != nil {
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{}) // no peers yet: nothing is sent
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	s := &Speaker{
		log: log, srv: srv, started: time.Now(),
		life: life, cancel: cancel, peers: map[string]PeerConfig{}, adv: newAdvertiser(), md5: MD5Supported(),
		lim: limits{restart: c.PrefixLimitRestart, held: map[string]*time.Timer{}}, errs: errs,
		reflector: c.Reflector, asn: c.ASN,
	}
	if s.lim.restart <= 0 {
		s.lim.restart = defaultPrefixLimitRestart
	}
	if err := s.watchLimits(life); err != nil {
		cancel()
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		return nil, err
	}
	log.Info("bgp speaker started", "asn", c.ASN, "routerID", c.RouterID, "port", c.ListenPort, "addr", c.ListenAddress)
	return s, nil
}

func (s *Speaker) alive() error {
	if s.life.Err() != nil {
		return ErrClosed
	}
	return nil
}

// Close releases the watchers and returns once every Watch has returned.
// It deliberately leaves the BGP sessions alone: it sends no NOTIFICATION
// and no hard reset, so when the process exits right after, peers see a
// bare TCP close and keep our routes as stale (graceful restart) until the
// next agent sends them again. See the package documentation.
func (s *Speaker) Close() {
	s.wmu.Lock()
	s.cancel()
	s.wmu.Unlock()
	s.watches.Wait()
	s.stopLimits()
	s.adv.mu.Lock()
	if s.adv.retry != nil {
		s.adv.retry.Stop()
	}
	s.adv.mu.Unlock()
}

// Stop is a hard shutdown: every peer receives a Cease (mapped to Hard
// Reset, RFC 8538, because we negotiate the N bit) and drops our routes at
// once. For tests, and for a shutdown where routes must go.
func (s *Speaker) Stop(ctx context.Context) error {
	s.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	// StopBgp returns once every FSM has sent its NOTIFICATION and ended.
	if err := s.srv.StopBgp(ctx, &api.StopBgpRequest{}); err != nil {
		return fmt.Errorf("stop bgp: %w", err)
	}
	s.log.Info("bgp speaker stopped")
	return nil
}

// AddPath originates p (or replaces the path with the same NLRI), outside
// Advertise's book: for tests and tools that announce raw paths.
func (s *Speaker) AddPath(ctx context.Context, p *api.Path) error {
	n, _, _, err := checkPath(p)
	if err != nil {
		return fmt.Errorf("add path: %w", err)
	}
	return s.addPath(ctx, p, n.String(), mustKey(n))
}

// DeletePath withdraws the local path with p's NLRI, outside Advertise's
// book. p must carry an NLRI: GoBGP reads a request without one as
// "withdraw every local path".
func (s *Speaker) DeletePath(ctx context.Context, p *api.Path) error {
	n, _, _, err := checkPath(p)
	if err != nil {
		return fmt.Errorf("delete path: %w", err)
	}
	return s.deletePath(ctx, p, n.String(), mustKey(n))
}

// addPath and deletePath send a checked path (desc is its NLRI's text,
// key its destination's).
func (s *Speaker) addPath(ctx context.Context, p *api.Path, desc, key string) error {
	if err := s.alive(); err != nil {
		return err
	}
	if s.failOp != nil {
		if err := s.failOp("add", desc); err != nil {
			return fmt.Errorf("add path %s: %w", desc, err)
		}
	}
	if _, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p}); err != nil {
		return fmt.Errorf("add path %s: %w", desc, err)
	}
	s.ours.put(key, true)
	return nil
}

func (s *Speaker) deletePath(ctx context.Context, p *api.Path, desc, key string) error {
	if err := s.alive(); err != nil {
		return err
	}
	if s.failOp != nil {
		if err := s.failOp("delete", desc); err != nil {
			return fmt.Errorf("delete path %s: %w", desc, err)
		}
	}
	err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p})
	if err != nil {
		return fmt.Errorf("delete path %s: %w", desc, err)
	}
	s.ours.put(key, false)
	return nil
}

// ListPaths returns every path of family in the Loc-RIB (Best set on the
// selected ones), local ones included.
func (s *Speaker) ListPaths(ctx context.Context, family string) ([]*api.Path, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	f, err := apiFamily(family)
	if err != nil {
		return nil, err
	}
	var out []*api.Path
	err = s.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f}, func(d *api.Destination) {
		out = append(out, d.Paths...)
	})
	if err != nil {
		return nil, fmt.Errorf("list %s paths: %w", family, err)
	}
	return out, nil
}
