// Package peer is the seam through which BGP neighbours reach the speaker.
// Each Source publishes its whole set of peers whenever it changes — the
// static list of the config today; discovered hosts (memberlist) and
// Kubernetes Nodes next — and a Set hands the union of the latest sets to
// the speaker, level triggered: SetPeers with the full list, retried until
// it takes.
//
// A peer listed by several sources is one peer: the first source (in the
// order given to NewSet) that lists an address decides its fields and is
// the one `vxbgpctl peers` names. Static config comes first, so an
// operator's explicit settings (ASN, password, port) win over what a
// discovery source found for the same host.
package peer

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// Peer is one BGP neighbour as a source knows it. The speaker's session
// settings (local address, timers, families, who dials) are the agent's
// and are added by the Set's template.
type Peer struct {
	Address  netip.Addr
	ASN      uint32
	Password string // TCP MD5; never logged
	Port     uint16 // 0: 179
	Name     string // the host's node name, when the source knows it
	// MaxPrefixes: routes the peer may send per family; 0: the default.
	MaxPrefixes uint32
	// Reflector: the host says it is a route reflector (discovery's
	// member metadata, a Node label); see Role.
	Reflector bool
	// RRClient: this host reflects routes to the peer (Role, or
	// bgp.peers[].routeReflectorClient).
	RRClient bool
}

// Source publishes its current set of peers: at least once, then on every
// change, until ctx ends. publish may be called from any goroutine and
// returns at once; the set is taken as a whole (latest wins).
type Source interface {
	Name() string // shown as the peer's source: "static", "discovered", ...
	Run(ctx context.Context, publish func([]Peer)) error
}

// Speaker is what a Set drives (bgp.Speaker).
type Speaker interface {
	SetPeers(ctx context.Context, peers []bgp.PeerConfig) error
}

// Static is the source of a fixed list: bgp.peers of the config.
type Static []Peer

func (Static) Name() string { return "static" }

// Run publishes the list once and waits for ctx.
func (s Static) Run(ctx context.Context, publish func([]Peer)) error {
	publish(s)
	<-ctx.Done()
	return nil
}

// Retry bounds of a failed SetPeers.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 10 * time.Second
)

// Set is the union of sources, applied to a speaker. The zero value is not
// usable; call NewSet.
type Set struct {
	sp       Speaker
	template func(Peer) bgp.PeerConfig
	sources  []Source
	log      *slog.Logger
	kick     chan struct{}

	mu     sync.Mutex
	latest map[string][]Peer // by source name; a source that never published is absent
	union  map[netip.Addr]string
}

// NewSet returns a Set of sources (first wins on a shared address) that
// configures sp, turning each peer into a session with template.
func NewSet(sp Speaker, template func(Peer) bgp.PeerConfig, log *slog.Logger, sources ...Source) *Set {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Set{sp: sp, template: template, sources: sources, log: log, kick: make(chan struct{}, 1),
		latest: map[string][]Peer{}, union: map[netip.Addr]string{}}
}

// Run runs the sources and keeps the speaker's peers their union until ctx
// ends. A source that fails ends Run with its error.
func (s *Set) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, len(s.sources))
	var wg sync.WaitGroup
	defer func() {
		cancel() // first: the sources end with ctx
		wg.Wait()
	}()
	for _, src := range s.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := src.Run(ctx, func(ps []Peer) { s.publish(src.Name(), ps) })
			if err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("peer source %s: %w", src.Name(), err)
			}
		}()
	}
	var retry <-chan time.Time
	backoff := minRetry
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-s.kick:
		case <-retry:
		}
		retry = nil
		if err := s.apply(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("bgp peers not all configured, retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, maxRetry)
			continue
		}
		backoff = minRetry
	}
}

func (s *Set) publish(source string, ps []Peer) {
	s.mu.Lock()
	s.latest[source] = append([]Peer(nil), ps...)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// apply hands the speaker the union of the latest sets.
func (s *Set) apply(ctx context.Context) error {
	s.mu.Lock()
	union := map[netip.Addr]string{}
	var configs []bgp.PeerConfig
	for _, src := range s.sources {
		for _, p := range s.latest[src.Name()] {
			if _, dup := union[p.Address]; dup || !p.Address.IsValid() {
				continue
			}
			union[p.Address] = src.Name()
			configs = append(configs, s.template(p))
		}
	}
	s.union = union
	s.mu.Unlock()
	return s.sp.SetPeers(ctx, configs)
}

// SourceOf names the source a configured peer comes from ("" for none).
func (s *Set) SourceOf(a netip.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.union[a]
}
