// Package srcloop is the Run loop the EVPN and routed sources share. A
// source says what it wants advertised (Hooks.Local), publishes what the
// routes it received change (Hooks.Build), and feeds the loop through its
// kicks and the speaker's events (Handler); the loop owns the rest: when
// to hand local changes to the speaker, the pacing of publishes during a
// burst of received routes, and the Ready and Synced milestones the agent
// waits on, with End-of-RIB tracking per family.
package srcloop

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/internal/liveness"
)

// Speaker is what a source needs of the BGP speaker (bgp.Speaker).
type Speaker interface {
	// Advertise makes owner's advertised paths exactly paths; see
	// bgp.Speaker.Advertise.
	Advertise(ctx context.Context, owner string, paths []bgp.Path) error
	// AdvertiseAll is Advertise for many owners in one go; see
	// bgp.Speaker.AdvertiseAll.
	AdvertiseAll(ctx context.Context, adverts []bgp.Advert) error
	// EORPeers lists the configured peers of family whose End-of-RIB the
	// initial table waits for, and how many peers carry family.
	EORPeers(ctx context.Context, family string) (wait []string, configured int, err error)
}

// Config configures a Loop.
type Config struct {
	Name string // "evpn", "unicast": names the log lines
	// Families are the families whose End-of-RIB, from every configured
	// peer that carries them, completes the initial table.
	Families []string
	// SyncTimeout closes Synced when the End-of-RIBs take longer (and it
	// is the only way with no peer at all). Default 10s.
	SyncTimeout time.Duration
	Logger      *slog.Logger
	// Beat is the loop's heartbeat (nil: none). The loop turns over at
	// least every syncCheckEvery, so an idle loop beats without an idle
	// tick of its own.
	Beat *liveness.Beat
}

// Hooks are a source's part of the loop; all run on the loop's goroutine.
type Hooks struct {
	// Start runs once, first: e.g. the first snapshot.
	Start func(ctx context.Context) error
	// Local hands the speaker what changed locally since its last call.
	// It runs at start and after every KickLocal, at most every LocalGap
	// during a burst (see localPacer); ready reports that the
	// source's initial set is handed over (it may close Ready). Failures
	// are the speaker's to retry (bgp.Speaker.Advertise).
	Local func(ctx context.Context) (ready bool)
	// Build publishes what the received routes changed, if anything:
	// a snapshot (routed) or the changes (EVPN). It runs after KickRx,
	// paced (see Pacer).
	Build func()
}

// How often the initial table's completeness is checked besides on every
// End-of-RIB and session event.
const syncCheckEvery = 500 * time.Millisecond

// Loop is one source's run loop. The zero value is not usable; call New.
type Loop struct {
	cfg  Config
	sp   Speaker
	gate *Gate

	localKick, rxKick, evKick chan struct{}

	mu  sync.Mutex
	eor map[string]map[string]bool // family -> peers that sent End-of-RIB
}

// New returns a Loop for a source; nothing happens until Run. Its kicks
// and Handler may be used before Run: they only note that something
// changed.
func New(c Config, sp Speaker) *Loop {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 10 * time.Second
	}
	return &Loop{
		cfg: c, sp: sp, gate: NewGate(c.Name, c.Logger),
		localKick: make(chan struct{}, 1), rxKick: make(chan struct{}, 1), evKick: make(chan struct{}, 1),
		eor: map[string]map[string]bool{},
	}
}

// KickLocal says local input changed: Local runs again.
func (l *Loop) KickLocal() { Kick(l.localKick) }

// KickRx says the received routes changed: Build runs, paced.
func (l *Loop) KickRx() { Kick(l.rxKick) }

// Milestones are a source's two one-way steps the agent orders start-up
// by; sources embed the ones of their Loop. Ready is closed once the
// source's initial set is handed to the speaker (Hooks.Local said so).
// Synced is closed once the initial table is complete: every configured
// peer of the loop's families sent its End-of-RIB, or SyncTimeout passed
// since Run started. Until then the agent deletes no kernel state.
type Milestones interface {
	Ready() <-chan struct{}
	Synced() <-chan struct{}
}

func (l *Loop) Ready() <-chan struct{}  { return l.gate.Ready() }
func (l *Loop) Synced() <-chan struct{} { return l.gate.Synced() }

// Handler completes a source's bgp.Handler with the loop's part:
// End-of-RIB markers and sessions.
func (l *Loop) Handler(h bgp.Handler) bgp.Handler {
	h.EOR, h.Peer = l.OnEOR, l.OnPeer
	return h
}

// OnEOR and OnPeer are the loop's part of a bgp.Handler: End-of-RIB
// markers and sessions coming up make it check whether the initial table
// is complete.
func (l *Loop) OnEOR(family, peer string) {
	l.mu.Lock()
	if l.eor[family] == nil {
		l.eor[family] = map[string]bool{}
	}
	l.eor[family][peer] = true
	l.mu.Unlock()
	l.cfg.Logger.Debug("end-of-rib", "family", family, "peer", peer)
	Kick(l.evKick)
}

func (l *Loop) OnPeer(peer string, up bool) {
	l.cfg.Logger.Debug("bgp peer", "peer", peer, "established", up)
	if up {
		Kick(l.evKick)
	}
}

// Run runs the loop until ctx ends; call it once. It returns Start's error,
// or nil.
func (l *Loop) Run(ctx context.Context, h Hooks) error {
	if err := h.Start(ctx); err != nil {
		return err
	}
	syncTimer := time.NewTimer(l.cfg.SyncTimeout)
	defer syncTimer.Stop()
	syncTick := time.NewTicker(syncCheckEvery)
	defer syncTick.Stop()
	pace := NewPacer()
	defer pace.Stop()
	lpace := newLocalPacer()
	defer lpace.Stop()

	local := true
	for {
		l.cfg.Beat.Beat()
		if local {
			local = false
			lpace.Run(func() {
				if h.Local(ctx) {
					l.gate.MarkReady()
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.localKick:
			local = lpace.Kicked()
		case <-lpace.C():
			lpace.Fired()
			local = true
		case <-l.rxKick:
			pace.Changed()
		case <-pace.C():
			pace.Build(h.Build)
		case <-l.evKick:
			l.flush(pace, h.Build)
			l.checkSynced(ctx)
		case <-syncTick.C:
			l.flush(pace, h.Build)
			l.checkSynced(ctx)
		case <-syncTimer.C:
			l.flush(pace, h.Build)
			l.gate.MarkSynced("timeout")
		}
	}
}

// flush builds the snapshot now if received routes changed since the last
// one. Synced must not close over a snapshot older than the End-of-RIBs it
// counts: a peer's routes before its End-of-RIB are recorded by then (the
// watcher hands events over in order), but their rebuild may still wait
// for the pacer, or for select to pick rxKick, and the agent would delete
// their kernel entries for the moment until it did (a restarted agent
// dropped packets to a peer's pods that way).
func (l *Loop) flush(pace *Pacer, build func()) {
	if l.gate.IsSynced() {
		return
	}
	select {
	case <-l.rxKick:
		pace.Changed()
	default:
	}
	if pace.Pending() {
		pace.Build(build)
	}
}

// checkSynced closes Synced once every peer the initial table waits for
// has sent its End-of-RIB for each family. With no peer configured for
// any family, only the timeout closes it.
func (l *Loop) checkSynced(ctx context.Context) {
	if l.gate.IsSynced() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	wait := make([][]string, len(l.cfg.Families))
	configured := 0
	for i, f := range l.cfg.Families {
		var n int
		var err error
		if wait[i], n, err = l.sp.EORPeers(ctx, f); err != nil {
			return
		}
		configured += n
	}
	if configured == 0 {
		return
	}
	n := 0
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.cfg.Families {
		for _, p := range wait[i] {
			if !l.eor[f][p] {
				return
			}
			n++
		}
	}
	l.gate.MarkSynced("end-of-rib", "peers", n, "without-family", configured-n)
}
