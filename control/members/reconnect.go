package members

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Reconnecting. Memberlist never contacts a member it has declared dead
// again, and a member that comes back only learns the cluster from its
// seeds. A member whose only seed is itself (or whose seeds are all down)
// — the seed host, rebooted — would then run alone until the others'
// next rejoin (RejoinInterval, 30 s): dead for them although it is up,
// kept out of their data path (control/mask), and peering with nobody.
// Worse, the others may hear it refute its death and list it alive while
// it still knows none of them, until a periodic push/pull happens to pick
// it. So every second a few members join (a push/pull: both sides get the
// whole member list) every member declared dead, and every member back
// from the dead since the last round. Serf does the first ("reconnect"),
// every 30 s; we want the host back in seconds.

// reconnectInterval: how often the rounds run.
const reconnectInterval = time.Second

// reconnectCallers: how many members call on each target. The first ones
// alive by name (the target aside) do: a few connections a second per
// target, whatever the cluster's size, and a cut-off host calls on all.
const reconnectCallers = 3

// reconnectTargets returns the gossip addresses (host:port) this host
// calls on now: members declared dead and members back from the dead
// since the last call, of which it is one of the reconnectCallers.
func (t *table) reconnectTargets() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var alive []string
	for name, e := range t.members {
		if e.State == Alive && !e.refused {
			alive = append(alive, name)
		}
	}
	slices.Sort(alive)
	var out []string
	for name, e := range t.members {
		if (e.State == Dead || t.back[name]) && e.State != Left && !e.refused && e.port != 0 &&
			name != t.self.Name && isCaller(alive, t.self.Name, name) {
			out = append(out, e.gossipAddr())
		}
	}
	clear(t.back)
	slices.Sort(out)
	return out
}

// isCaller reports whether self is among the first reconnectCallers of
// alive (sorted names) once target is left out.
func isCaller(alive []string, self, target string) bool {
	n := 0
	for _, name := range alive {
		if name == target {
			continue
		}
		if name == self {
			return true
		}
		if n++; n == reconnectCallers {
			return false
		}
	}
	return false
}

// reconnector runs the reconnect joins in the background, one at a time
// per address: a member that is really down costs one connection attempt
// per round, at most Timings.TCPTimeout each.
type reconnector struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	busy map[string]bool
}

func (r *reconnector) join(ml *memberlist.Memberlist, addrs []string, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy == nil {
		r.busy = map[string]bool{}
	}
	for _, a := range addrs {
		if r.busy[a] {
			continue
		}
		r.busy[a] = true
		r.wg.Go(func() {
			if _, err := ml.Join([]string{a}); err != nil {
				log.Debug("reconnect: no answer", "addr", a, "err", flatten(err))
			}
			r.mu.Lock()
			delete(r.busy, a)
			r.mu.Unlock()
		})
	}
}

// wait waits for the joins under way.
func (r *reconnector) wait() { r.wg.Wait() }
