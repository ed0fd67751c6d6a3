// Package mask decides which hosts to keep out of the data path. BGP alone
// is slow to give up on a host that vanished (its session stays up until
// the hold timer expires, then graceful restart keeps its routes for
// minutes), so the agent takes a faster signal: discovery's failure
// detector declares a member dead within a few seconds. A death is only
// acted on once it is confirmed, because an agent that restarts (or
// crashes) on a live host looks the same to gossip, and its kernel keeps
// forwarding: graceful restart governs its routes, and masking it would
// cut traffic that still flows.
//
// A death is confirmed when the host's address does not answer a short
// TCP probe: a live host refuses the connection at once (or accepts it),
// whatever its agent does, since its kernel answers; a dead or cut-off
// host says nothing. An established BGP session proves nothing either
// way: a busy host that gossip wrongly declared dead keeps its session,
// and so does a host that vanished until the hold timer runs out. A
// confirmed death masks the host: its FDB and flood entries and the next
// hops through it leave the desired state (control/desired), with no
// change to BGP. The host is unmasked when it is alive again and, if it
// is a BGP peer, its routes are current: the session that carried them
// never broke, or a new one has sent End-of-RIB.
//
// If more than a third of the members die within IsolationWindow, this
// host is the likely one cut off: it masks none of them, logs it and
// counts it. Partitions are better served by BGP's own timers than by a
// host that masks everybody else.
package mask

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// Member is a host as discovery sees it.
type Member struct {
	Name  string
	Addr  netip.Addr
	Alive bool // alive or suspect; false: declared dead (or gone)
}

// Config configures a Masker.
type Config struct {
	// Probe reports whether addr answers (a TCP connect that completes or
	// is refused); it must return within its ctx. Default: TCPProbe on
	// port 179.
	Probe func(ctx context.Context, addr netip.Addr) bool
	// ProbeTimeout bounds a probe (default 150 ms: a live host's kernel
	// answers a SYN in well under a millisecond on a LAN, and every
	// millisecond here is added to a dead host's time in the data path).
	ProbeTimeout time.Duration
	// IsolationWindow groups deaths for the isolation rule (default 5 s).
	IsolationWindow time.Duration
	// Publish receives the masked addresses on every change (Run's
	// goroutine); it must not keep the map.
	Publish func(map[netip.Addr]bool)
	Logger  *slog.Logger
}

// Stats counts what the Masker did.
type Stats struct {
	Masked      int    // hosts masked now
	Masks       uint64 // confirmed deaths acted on
	Unmasks     uint64
	Unconfirmed uint64 // deaths the host answered for: an agent restart, not a death
	Isolated    uint64 // deaths not acted on because too many members died at once
}

// host is what the Masker knows of one address.
type host struct {
	name        string
	member      bool // discovery lists it
	alive       bool
	settled     bool // its death was looked at and not acted on (restart or isolation)
	peer        bool // it has had a BGP session with us: its return waits for one
	session     bool // its BGP session is established
	eor         bool // an End-of-RIB came since the session was established
	masked      bool
	maskedSince time.Time
	probing     bool
}

// Masker is the mask decision. The zero value is not usable; call New.
type Masker struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	hosts   map[netip.Addr]*host
	deaths  map[netip.Addr]time.Time // the latest death of each member, for the isolation rule
	results chan probeResult
	stats   Stats
}

type probeResult struct {
	addr     netip.Addr
	answered bool
}

// New returns a Masker; nothing is masked until Run.
func New(c Config) *Masker {
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 150 * time.Millisecond
	}
	if c.IsolationWindow <= 0 {
		c.IsolationWindow = 5 * time.Second
	}
	if c.Probe == nil {
		c.Probe = func(ctx context.Context, a netip.Addr) bool { return TCPProbe(ctx, netip.AddrPortFrom(a, 179)) }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Publish == nil {
		c.Publish = func(map[netip.Addr]bool) {}
	}
	return &Masker{cfg: c, log: c.Logger, kick: make(chan struct{}, 1), hosts: map[netip.Addr]*host{},
		deaths: map[netip.Addr]time.Time{}, results: make(chan probeResult, 16)}
}

// Handler feeds the Masker BGP sessions and End-of-RIB markers.
func (m *Masker) Handler() bgp.Handler {
	return bgp.Handler{Peer: m.onPeer, EOR: m.onEOR}
}

func (m *Masker) onPeer(peer string, up bool) {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		return
	}
	m.mu.Lock()
	h := m.host(a)
	// A session that breaks makes its routes stale until a new one's
	// End-of-RIB.
	h.session, h.eor = up, false
	h.peer = h.peer || up
	m.mu.Unlock()
	m.poke()
}

func (m *Masker) onEOR(_, peer string) {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		return
	}
	m.mu.Lock()
	if h := m.host(a); h.session {
		h.eor = true
	}
	m.mu.Unlock()
	m.poke()
}

// SetMembers takes discovery's whole member table (level triggered) and
// returns at once.
func (m *Masker) SetMembers(ms []Member) {
	now := time.Now()
	m.mu.Lock()
	seen := map[netip.Addr]bool{}
	for _, mb := range ms {
		seen[mb.Addr] = true
		h := m.host(mb.Addr)
		if h.member && h.alive && !mb.Alive {
			m.deaths[mb.Addr] = now
			m.log.Info("member declared dead: confirming", "member", mb.Name, "addr", mb.Addr, "session_up", h.session)
		}
		h.name, h.member, h.alive = mb.Name, true, mb.Alive
		if mb.Alive {
			h.settled = false
		}
	}
	for a, h := range m.hosts {
		if !seen[a] {
			h.member, h.alive = false, false
		}
	}
	m.mu.Unlock()
	m.poke()
}

func (m *Masker) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// host returns a's record, made on first use; m.mu is held.
func (m *Masker) host(a netip.Addr) *host {
	h := m.hosts[a]
	if h == nil {
		h = &host{}
		m.hosts[a] = h
	}
	return h
}

// Run decides until ctx ends.
func (m *Masker) Run(ctx context.Context) error {
	published := map[netip.Addr]bool{}
	m.cfg.Publish(published)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case r := <-m.results:
			m.probed(r)
		}
		if next := m.decide(ctx); !maps.Equal(next, published) {
			published = next
			m.cfg.Publish(maps.Clone(next))
		}
	}
}

// decide masks what is confirmed dead, starts the probes of what is not
// confirmed yet, unmasks what is back, and returns the masked set.
func (m *Masker) decide(ctx context.Context) map[netip.Addr]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	out := map[netip.Addr]bool{}
	for a, h := range m.hosts {
		switch {
		case h.masked && h.alive && (!h.peer || (h.session && h.eor)):
			h.masked = false
			m.stats.Unmasks++
			m.log.Info("host back: unmasked", "member", h.name, "addr", a, "masked_for", now.Sub(h.maskedSince).Round(time.Millisecond))
		case h.member && !h.alive && !h.masked && !h.probing && !h.settled:
			m.confirm(ctx, a, h, now)
		}
		if h.masked {
			out[a] = true
		}
	}
	m.stats.Masked = len(out)
	return out
}

// confirm acts on one unconfirmed death; m.mu is held.
func (m *Masker) confirm(ctx context.Context, a netip.Addr, h *host, now time.Time) {
	if m.isolated(now) {
		m.stats.Isolated++
		h.settled = true
		m.log.Warn("too many members died at once: this host is probably the one cut off, masking none of them",
			"member", h.name, "addr", a, "deaths", len(m.deaths), "window", m.cfg.IsolationWindow)
		return
	}
	h.probing = true
	go func() {
		pctx, cancel := context.WithTimeout(ctx, m.cfg.ProbeTimeout)
		defer cancel()
		answered := m.cfg.Probe(pctx, a)
		select {
		case m.results <- probeResult{a, answered}:
		case <-ctx.Done():
		}
	}()
}

func (m *Masker) probed(r probeResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.host(r.addr)
	h.probing = false
	switch {
	case h.alive || h.masked:
	case r.answered:
		m.stats.Unconfirmed++
		h.settled = true // not probed again until it is alive and dies anew
		m.log.Info("member declared dead but its host answers: an agent restart, not masked (graceful restart keeps its routes)",
			"member", h.name, "addr", r.addr)
	default:
		m.mask(r.addr, h, time.Now(), "its address does not answer")
	}
}

func (m *Masker) mask(a netip.Addr, h *host, now time.Time, why string) {
	// h.eor stays as it is: if the session is still up (a host cut off
	// for less than the hold time), the routes it carried are current for
	// as long as it stays up, and the host comes back as soon as gossip
	// says it is alive. If the session breaks meanwhile, onPeer clears it.
	h.masked, h.maskedSince = true, now
	m.stats.Masks++
	m.log.Warn("host dead: masked (its entries leave the kernel, BGP unchanged)", "member", h.name, "addr", a, "reason", why)
}

// isolated reports whether the members that died recently are more than a
// third of the members; m.mu is held.
func (m *Masker) isolated(now time.Time) bool {
	for a, t := range m.deaths {
		if now.Sub(t) > m.cfg.IsolationWindow {
			delete(m.deaths, a)
		}
	}
	members := 0
	for _, h := range m.hosts {
		if h.member {
			members++
		}
	}
	return members > 0 && 3*len(m.deaths) > members
}

// Masked lists the masked hosts and since when.
func (m *Masker) Masked() map[netip.Addr]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[netip.Addr]time.Time{}
	for a, h := range m.hosts {
		if h.masked {
			out[a] = h.maskedSince
		}
	}
	return out
}

// Stats returns the counters.
func (m *Masker) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}
