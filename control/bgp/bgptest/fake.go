package bgptest

import (
	"github.com/prometheus/client_golang/prometheus"

	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// Fake is an in-memory speaker for unit tests of what drives one: the
// sources (Advertise, EORPeers), the peer set (SetPeers) and the agent
// (Watch, WaitAdvertised, Peers, Close). It keeps the table Advertise
// builds as bgp.Speaker does (full sets per owner, one destination kept
// while any owner claims it) and fails the test when a caller breaks the
// speaker's contract:
//
//   - a withdrawal of what was never advertised: Advertise of an empty
//     set for an owner that has none (the caller's books are off);
//   - a set listing one destination twice, or a zero path;
//   - a second Watch while one runs (the speaker feeds every consumer
//     from one watcher: they must all be handed to one Watch);
//   - SetPeers before WaitAdvertised returned, when the fake was told
//     (RequireAdvertisedBeforePeers) — graceful restart's order: our
//     first End-of-RIB must carry the whole table;
//   - any call after Close.
//
// Tests drive the other side with Deliver, DeliverUnicast, EOR and
// PeerUp, which run the registered handlers as GoBGP's watcher would.
type Fake struct {
	t testing.TB

	mu          sync.Mutex
	owners      map[string]map[string]bgp.Path
	peers       []bgp.PeerConfig
	up          map[string]bool
	status      map[string]bgp.PeerStatus // SetPeerStatus: families and last error
	handlers    []bgp.Handler
	watching    bool
	closed      bool
	waited      bool // WaitAdvertised returned
	strictPeers bool
	peerTables  [][]string // the table at each SetPeers with peers
}

var _ interface {
	Advertise(context.Context, string, []bgp.Path) error
	AdvertiseAll(context.Context, []bgp.Advert) error
	WaitAdvertised(context.Context) error
	EORPeers(context.Context, string) ([]string, int, error)
	SetPeers(context.Context, []bgp.PeerConfig) error
	Watch(context.Context, ...bgp.Handler) error
	Peers(context.Context) ([]bgp.PeerStatus, error)
	Close()
} = (*Fake)(nil)

// NewFake returns an empty fake speaker for t.
func NewFake(t testing.TB) *Fake {
	return &Fake{t: t, owners: map[string]map[string]bgp.Path{}, up: map[string]bool{}, status: map[string]bgp.PeerStatus{}}
}

// RequireAdvertisedBeforePeers makes SetPeers with peers before
// WaitAdvertised a test failure.
func (f *Fake) RequireAdvertisedBeforePeers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.strictPeers = true
}

func (f *Fake) violation(format string, args ...any) {
	f.t.Helper()
	f.t.Errorf("fake speaker: "+format, args...)
}

// Advertise implements the speaker's contract (see bgp.Speaker.Advertise).
func (f *Fake) Advertise(ctx context.Context, owner string, paths []bgp.Path) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.violation("Advertise(%s) after Close", owner)
		return bgp.ErrClosed
	}
	next := make(map[string]bgp.Path, len(paths))
	for _, p := range paths {
		if p.IsZero() {
			f.violation("Advertise(%s): zero path", owner)
			return fmt.Errorf("zero path")
		}
		if _, dup := next[p.Key()]; dup {
			f.violation("Advertise(%s): %s listed twice", owner, p)
			return fmt.Errorf("%s listed twice", p)
		}
		next[p.Key()] = p
	}
	if len(next) == 0 {
		if _, ok := f.owners[owner]; !ok {
			f.violation("Advertise(%s, nothing): withdraws what it never advertised", owner)
		}
		delete(f.owners, owner)
		return nil
	}
	f.owners[owner] = next
	return nil
}

// AdvertiseAll is Advertise for each advert in turn.
func (f *Fake) AdvertiseAll(ctx context.Context, adverts []bgp.Advert) error {
	var errs []error
	for _, ad := range adverts {
		if err := f.Advertise(ctx, ad.Owner, ad.Paths); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WaitAdvertised returns at once: the fake never refuses a path.
func (f *Fake) WaitAdvertised(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waited = true
	return nil
}

// EORPeers: every configured peer of family is waited for.
func (f *Fake) EORPeers(ctx context.Context, family string) ([]string, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var wait []string
	for _, p := range f.peers {
		if len(p.Families) == 0 && family == bgp.FamilyEVPN || slices.Contains(p.Families, family) {
			wait = append(wait, p.Address)
		}
	}
	return wait, len(wait), nil
}

// SetPeers records the peers; with RequireAdvertisedBeforePeers it checks
// the start-up order.
func (f *Fake) SetPeers(ctx context.Context, peers []bgp.PeerConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.violation("SetPeers after Close")
		return bgp.ErrClosed
	}
	if len(peers) > 0 {
		if f.strictPeers && !f.waited {
			f.violation("SetPeers before WaitAdvertised: the first End-of-RIB would go out without our whole table")
		}
		f.peerTables = append(f.peerTables, f.tableLocked())
	}
	f.peers = slices.Clone(peers)
	return nil
}

// Watch registers hs and blocks until ctx ends.
func (f *Fake) Watch(ctx context.Context, hs ...bgp.Handler) error {
	f.mu.Lock()
	if f.watching {
		f.mu.Unlock()
		f.violation("a second Watch while one runs: hand every handler to one Watch")
		return fmt.Errorf("second watch")
	}
	f.watching, f.handlers = true, hs
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.watching, f.handlers = false, nil
	f.mu.Unlock()
	return nil
}

// Peers reports the configured peers, established when PeerUp said so.
func (f *Fake) Peers(ctx context.Context) ([]bgp.PeerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bgp.PeerStatus
	for _, p := range f.peers {
		st := bgp.PeerStatus{Address: netip.MustParseAddr(p.Address), ASN: p.ASN, State: "active"}
		if f.up[p.Address] {
			st.State = "established"
		}
		set := f.status[p.Address]
		st.Families, st.LastError = slices.Clone(set.Families), set.LastError
		for _, fs := range st.Families {
			st.Received += fs.Received
			st.Accepted += fs.Accepted
		}
		out = append(out, st)
	}
	return out, nil
}

// Register adds the speaker metrics, from Peers (no prefix limit ever
// trips in a fake).
func (f *Fake) Register(reg prometheus.Registerer, sourceOf func(netip.Addr) string) {
	bgp.RegisterMetrics(reg, f.Peers, func() bgp.LimitStats { return bgp.LimitStats{} }, sourceOf)
}

// SetPeerStatus sets what Peers reports of peer besides its state: its
// families' counts (Received and Accepted are their sums) and its last
// error.
func (f *Fake) SetPeerStatus(peer string, families []bgp.FamilyStatus, lastError string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[peer] = bgp.PeerStatus{Families: slices.Clone(families), LastError: lastError}
}

// Close marks the fake closed: later calls fail the test.
func (f *Fake) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

// Table lists the destinations advertised by any owner, sorted.
func (f *Fake) Table() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tableLocked()
}

func (f *Fake) tableLocked() []string {
	set := map[string]bool{}
	for _, ps := range f.owners {
		for _, p := range ps {
			set[p.String()] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Owners lists the owners with paths, sorted.
func (f *Fake) Owners() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.owners))
}

// PeerTables is the table as it was at each SetPeers that configured
// peers.
func (f *Fake) PeerTables() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.peerTables)
}

// Configured lists the configured peers' addresses.
func (f *Fake) Configured() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.peers {
		out = append(out, p.Address)
	}
	return out
}

// ConfiguredPeers is the last SetPeers' list, as it was given.
func (f *Fake) ConfiguredPeers() []bgp.PeerConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.peers)
}

// Watching reports whether a Watch runs.
func (f *Fake) Watching() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watching
}

// each runs call for every handler of the running Watch.
func (f *Fake) each(call func(bgp.Handler)) {
	f.mu.Lock()
	hs := f.handlers
	f.mu.Unlock()
	if hs == nil {
		f.t.Helper()
		f.t.Fatal("fake speaker: an event delivered with no Watch running")
	}
	for _, h := range hs {
		call(h)
	}
}

// Deliver hands p to the handlers' Path, as a received best path, and to
// their Received as GoBGP's parse of it (RxOf), as the speaker's watch
// would. A path GoBGP could not parse fails the test: DeliverRx hands over
// what its parse can hold.
func (f *Fake) Deliver(p *api.Path) {
	var (
		rx   bgp.RxPath
		err  error
		done bool
	)
	f.each(func(h bgp.Handler) {
		if h.Path != nil {
			h.Path(p)
		}
		if h.Received != nil {
			if !done {
				rx, err, done = RxOf(p), nil, true
				if rx.NLRI == nil {
					err = fmt.Errorf("fake speaker: path %v: GoBGP cannot parse it", p)
				}
			}
			if err != nil {
				f.t.Helper()
				f.t.Fatal(err)
			}
			h.Received(rx)
		}
	})
}

// DeliverRx hands p to the handlers' Received only.
func (f *Fake) DeliverRx(p bgp.RxPath) {
	f.each(func(h bgp.Handler) {
		if h.Received != nil {
			h.Received(p)
		}
	})
}

// RxOf is p as the speaker's watch hands it to a Handler.Received: its NLRI
// and attributes in GoBGP's own form (apiutil's conversion). An NLRI or
// attributes GoBGP cannot read come back nil.
func RxOf(p *api.Path) bgp.RxPath {
	rx := bgp.RxPath{Peer: p.GetNeighborIp(), Withdraw: p.GetIsWithdraw()}
	if rx.Peer == "<nil>" {
		rx.Peer = ""
	}
	if n, err := apiutil.GetNativeNlri(p); err == nil {
		rx.NLRI = n
	}
	if attrs, err := apiutil.GetNativePathAttributes(p); err == nil {
		rx.Attrs = attrs
	}
	return rx
}

// DeliverUnicast hands a unicast prefix's path set to the handlers.
func (f *Fake) DeliverUnicast(prefix netip.Prefix, paths ...bgp.UnicastPath) {
	f.each(func(h bgp.Handler) {
		if h.Unicast != nil {
			h.Unicast(prefix, paths)
		}
	})
}

// EOR delivers an End-of-RIB marker of family from peer.
func (f *Fake) EOR(family, peer string) {
	f.each(func(h bgp.Handler) {
		if h.EOR != nil {
			h.EOR(family, peer)
		}
	})
}

// PeerUp reports peer's session established; PeerDown reports it gone.
func (f *Fake) PeerUp(peer string)   { f.peerState(peer, true) }
func (f *Fake) PeerDown(peer string) { f.peerState(peer, false) }

func (f *Fake) peerState(peer string, up bool) {
	f.mu.Lock()
	f.up[peer] = up
	f.mu.Unlock()
	f.each(func(h bgp.Handler) {
		if h.Peer != nil {
			h.Peer(peer, up)
		}
	})
}
