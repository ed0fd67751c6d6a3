package members

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's state as this host last heard it.
//
// There is no "suspect": memberlist v0.7.0 keeps suspicion to itself (its
// Node.State is never set, its nodeState.State shadows it, and no event
// fires on suspicion), so a suspect member is Alive here until memberlist
// declares it dead, within the tuned timings of Timings.
type State uint8

const (
	Alive State = iota
	Dead        // stopped answering: crashed, cut off, or an agent restarting
	Left        // announced its departure (Discovery.Leave)
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Dead:
		return "dead"
	case Left:
		return "left"
	}
	return "unknown"
}

// Member is one host of the cluster.
type Member struct {
	Meta
	State State
	Since time.Time // when this host saw it enter State
}

// table is the member list as this host sees it: memberlist's events fill
// it, and what memberlist forgets 30 s after a death it keeps for
// forgetAfter, so that the agent can still tell the dead from the unknown.
// Every method is called with memberlist's node lock held, or from our own
// goroutines; none calls back into memberlist, so the order of the two
// locks is always theirs, then ours.
type table struct {
	self        Meta
	log         *slog.Logger
	forgetAfter time.Duration

	mu      sync.Mutex
	members map[string]*entry
	changed chan struct{}              // closed at the next change
	warned  map[string]map[string]bool // node name -> refusals logged and counted
	back    map[string]bool            // members back from the dead since reconnectTargets
	stats   Stats
	stopped bool // Run ended: memberlist's timers may still fire, and are ignored
}

type entry struct {
	Member
	port    uint16 // its gossip port
	leaving bool   // its latest metadata announced a Leave: its death is Left
	refused bool   // its latest announcement was refused: hidden until a good one
}

func newTable(self Meta, forgetAfter time.Duration, log *slog.Logger) *table {
	t := &table{self: self, log: log, forgetAfter: forgetAfter,
		members: map[string]*entry{}, changed: make(chan struct{}), warned: map[string]map[string]bool{}, back: map[string]bool{}}
	t.members[self.Name] = &entry{Member: Member{Meta: self.clone(), State: Alive, Since: time.Now()}}
	return t
}

// changedLocked wakes everyone waiting on Changes.
func (t *table) changedLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *table) changes() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// snapshot returns the members not refused, sorted by name.
func (t *table) snapshot() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Member, 0, len(t.members))
	for _, e := range t.members {
		if !e.refused {
			m := e.Member
			m.Meta = m.clone()
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// NotifyJoin records a member memberlist admitted, new or back from the
// dead. NotifyAlive has already checked its metadata.
func (t *table) NotifyJoin(n *memberlist.Node) { t.alive(n, "member joined") }

// NotifyUpdate records a member's new metadata.
func (t *table) NotifyUpdate(n *memberlist.Node) { t.alive(n, "member updated") }

func (t *table) alive(n *memberlist.Node, what string) {
	m, leaving, err := decodeMeta(n.Meta)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || err != nil {
		return
	}
	since := time.Now()
	if e := t.members[n.Name]; e != nil && e.State == Alive && !e.refused {
		since = e.Since
	} else if e != nil && e.State == Dead {
		t.back[n.Name] = true
	}
	t.members[n.Name] = &entry{Member: Member{Meta: m, State: Alive, Since: since}, port: n.Port, leaving: leaving}
	delete(t.warned, n.Name)
	t.log.Info(what, "member", m.Name, "ip", m.Addr, "asn", m.ASN, "mode", m.Mode, "blocks", m.Blocks)
	t.changedLocked()
}

// NotifyLeave records a member memberlist declared dead, or that left.
func (t *table) NotifyLeave(n *memberlist.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.members[n.Name]
	if t.stopped || e == nil || e.State != Alive {
		return
	}
	e.State, e.Since = Dead, time.Now()
	if e.leaving {
		e.State = Left
	}
	if e.State == Dead && !e.refused {
		t.log.Warn("member dead", "member", e.Name, "ip", e.Addr)
	} else {
		t.log.Info("member "+e.State.String(), "member", e.Name, "ip", e.Addr)
	}
	t.changedLocked()
}

// gossipAddr is the member's gossip address, host:port.
func (e *entry) gossipAddr() string { return netip.AddrPortFrom(e.Addr, e.port).String() }

// aliveAddrs returns the gossip addresses of the other members alive.
func (t *table) aliveAddrs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for name, e := range t.members {
		if e.State == Alive && !e.refused && e.port != 0 && name != t.self.Name {
			out = append(out, e.gossipAddr())
		}
	}
	slices.Sort(out)
	return out
}

// forget drops the members dead or gone for longer than forgetAfter.
func (t *table) forget(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	for name, e := range t.members {
		if e.State != Alive && name != t.self.Name && now.Sub(e.Since) > t.forgetAfter {
			delete(t.members, name)
			changed = true
		}
	}
	if changed {
		t.changedLocked()
	}
}

func (t *table) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
}
