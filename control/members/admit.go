package members

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// Stats counts the members refused, each distinct refusal once (memberlist
// repeats a refused member's announcement on every gossip round and
// push/pull; those repeats are neither logged nor counted again).
type Stats struct {
	Conflicts uint64 // a node name or underlay address another member already has
	Overlaps  uint64 // a block overlapping one of ours
	BadMeta   uint64 // metadata that does not decode or is invalid
}

type refusal uint8

const (
	conflict refusal = iota
	overlapping
	badMeta
)

// refusedBy starts NotifyAlive's errors, which memberlist logs: see
// repeatsRefusal.
const refusedBy = "refused by "

// maxWarned bounds the memory of refusals already logged: past it, the
// memory starts again (and repeats are logged and counted once more).
const maxWarned = 1024

// NotifyAlive is memberlist's AliveDelegate: it runs on every announcement
// of a member, before memberlist admits it or takes its new metadata, and
// an error makes memberlist ignore the announcement. So a member refused
// here never enters memberlist's list, is never probed, and is never a
// peer: refused, not merged.
//
// Another host announcing a member's node name from another address is
// memberlist's own check (it keeps the first; see NotifyConflict); ours
// are the metadata, the underlay address and the blocks.
func (t *table) NotifyAlive(n *memberlist.Node) error {
	m, _, err := decodeMeta(n.Meta)
	if err == nil {
		err = matchesNode(m, n)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		return t.refuseLocked(badMeta, n, err)
	}
	if n.Name == t.self.Name {
		return nil
	}
	for _, e := range t.members {
		if e.Name != m.Name && e.Addr == m.Addr && e.State == Alive && !e.refused {
			return t.refuseLocked(conflict, n, fmt.Errorf("address %s is already member %s's", m.Addr, e.Name))
		}
	}
	if mine, theirs, ok := overlap(t.self.Blocks, m.Blocks); ok {
		return t.refuseLocked(overlapping, n, fmt.Errorf("block %s overlaps this host's block %s", theirs, mine))
	}
	// A member whose last announcement was refused is back to good
	// metadata; memberlist may see no change in it (it never took the bad
	// one), so no NotifyUpdate would tell us.
	if e := t.members[n.Name]; e != nil && e.refused {
		e.Meta, e.refused = m, false
		t.changedLocked()
	}
	return nil
}

// matchesNode checks the metadata against what memberlist knows of the
// sender: the same name, and the underlay address it gossips from (we
// gossip on underlay.address, so the two are one).
func matchesNode(m Meta, n *memberlist.Node) error {
	if m.Name != n.Name {
		return fmt.Errorf("metadata names %q", m.Name)
	}
	if a, ok := netip.AddrFromSlice(n.Addr); !ok || a.Unmap() != m.Addr {
		return fmt.Errorf("metadata address %s is not its gossip address %s", m.Addr, n.Addr)
	}
	return nil
}

// NotifyConflict is memberlist's ConflictDelegate: other announced the
// node name of existing from another address, and memberlist kept
// existing.
func (t *table) NotifyConflict(existing, other *memberlist.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	what := fmt.Errorf("node name already used by member at %s", existing.Addr)
	if existing.Name == t.self.Name {
		what = errors.New("node name is this host's")
	}
	_ = t.refuseLocked(conflict, other, what)
}

// refuseLocked logs and counts a refusal once, hides a known member whose
// new announcement it is, and returns the error for memberlist to log.
func (t *table) refuseLocked(kind refusal, n *memberlist.Node, why error) error {
	err := fmt.Errorf("%s%s: %w", refusedBy, t.self.Name, why)
	if t.stopped {
		return err
	}
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	key := fmt.Sprint(kind, addr, why)
	if !t.warned[n.Name][key] {
		if len(t.warned) >= maxWarned {
			clear(t.warned)
		}
		if t.warned[n.Name] == nil {
			t.warned[n.Name] = map[string]bool{}
		}
		t.warned[n.Name][key] = true
		switch kind {
		case conflict:
			t.stats.Conflicts++
		case overlapping:
			t.stats.Overlaps++
		case badMeta:
			t.stats.BadMeta++
		}
		t.log.Warn("member refused", "member", n.Name, "from", addr, "err", why)
	}
	if e := t.members[n.Name]; e != nil && kind != conflict && n.Name != t.self.Name && !e.refused {
		e.refused = true
		t.changedLocked()
	}
	return err
}

func (t *table) statsNow() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}
