package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// FDBEntry is one line of `bridge fdb show dev DEV`.
type FDBEntry struct {
	MAC    string   `json:"mac"`
	Dev    string   `json:"ifname"`
	Dst    string   `json:"dst"`
	Master string   `json:"master"`
	State  string   `json:"state"`
	Flags  []string `json:"flags"`
}

// Has reports whether the entry carries flag (self, extern_learn, ...).
func (e FDBEntry) Has(flag string) bool {
	for _, f := range e.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// String is the entry in `bridge fdb show` form.
func (e FDBEntry) String() string {
	s := e.MAC + " dev " + e.Dev
	if e.Dst != "" {
		s += " dst " + e.Dst
	}
	if e.Master != "" {
		s += " master " + e.Master
	}
	if len(e.Flags) > 0 {
		s += " " + strings.Join(e.Flags, " ")
	}
	if e.State != "" {
		s += " " + e.State
	}
	return s
}

// floodMAC is the all-zero MAC of head-end-replication flood entries.
const floodMAC = "00:00:00:00:00:00"

// ReadFDB returns `bridge -j fdb show dev dev` in namespace ns.
func ReadFDB(ctx context.Context, ns, dev string) ([]FDBEntry, error) {
	out, err := Bridge(ctx, ns, "-j", "fdb", "show", "dev", dev)
	return decodeDump(ns, "fdb of "+dev, out, err, func(s string) ([]FDBEntry, error) { return decodeFDB(s, dev) })
}

// decodeDump decodes out, an iproute2 JSON dump of what in ns that ended
// with err; errors name what and ns.
func decodeDump[T any](ns, what, out string, err error, decode func(string) ([]T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", what, ns, err)
	}
	list, err := decode(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ns, err)
	}
	return list, nil
}

// decodeFDB decodes `bridge -j fdb show dev dev`, which omits ifname.
func decodeFDB(out, dev string) ([]FDBEntry, error) {
	var list []FDBEntry
	if s := strings.TrimSpace(out); s != "" {
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("decode fdb of %s: %w", dev, err)
		}
	}
	for i := range list {
		if list[i].Dev == "" {
			list[i].Dev = dev
		}
	}
	return list, nil
}

// NeighEntry is one line of `ip neigh show dev DEV`.
type NeighEntry struct {
	IP          string
	Dev         string
	LLAddr      string
	State       []string // e.g. NOARP, REACHABLE
	ExternLearn bool
}

// HasState reports whether the entry is in state s (case-insensitive).
func (n NeighEntry) HasState(s string) bool {
	for _, x := range n.State {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// String is the entry in `ip neigh show` form.
func (n NeighEntry) String() string {
	s := n.IP + " dev " + n.Dev + " lladdr " + n.LLAddr
	if n.ExternLearn {
		s += " extern_learn"
	}
	return s + " " + strings.Join(n.State, " ")
}

// ReadNeigh returns `ip -j neigh show dev dev` in namespace ns.
func ReadNeigh(ctx context.Context, ns, dev string) ([]NeighEntry, error) {
	out, err := IP(ctx, ns, "-j", "neigh", "show", "dev", dev)
	return decodeDump(ns, "neighbours of "+dev, out, err, func(s string) ([]NeighEntry, error) { return decodeNeigh(s, dev) })
}

// decodeNeigh decodes `ip -j neigh show dev dev`.
func decodeNeigh(out, dev string) ([]NeighEntry, error) {
	// Flags such as extern_learn appear as keys with a null value, so
	// decode into a map to see which keys are present.
	var raw []map[string]json.RawMessage
	if s := strings.TrimSpace(out); s != "" {
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, fmt.Errorf("decode neighbours of %s: %w", dev, err)
		}
	}
	list := make([]NeighEntry, 0, len(raw))
	for _, m := range raw {
		n := NeighEntry{Dev: dev}
		_ = json.Unmarshal(m["dst"], &n.IP)
		_ = json.Unmarshal(m["lladdr"], &n.LLAddr)
		_ = json.Unmarshal(m["state"], &n.State)
		_, n.ExternLearn = m["extern_learn"]
		list = append(list, n)
	}
	return list, nil
}

// FindFDB returns the entries for mac.
func FindFDB(list []FDBEntry, mac string) []FDBEntry {
	var out []FDBEntry
	for _, e := range list {
		if strings.EqualFold(e.MAC, mac) {
			out = append(out, e)
		}
	}
	return out
}

// RemoteEntry returns the vxlan "self" entry of mac pointing at dst, if any.
func RemoteEntry(list []FDBEntry, mac, dst string) (FDBEntry, bool) {
	for _, e := range FindFDB(list, mac) {
		if e.Has("self") && e.Dst == dst {
			return e, true
		}
	}
	return FDBEntry{}, false
}

// FloodDsts returns the destinations of the flood entries, one per entry
// (so duplicates show).
func FloodDsts(list []FDBEntry) []string {
	var out []string
	for _, e := range list {
		if e.MAC == floodMAC && e.Dst != "" {
			out = append(out, e.Dst)
		}
	}
	return out
}

// FindNeigh returns the neighbour entry for ip, if any.
func FindNeigh(list []NeighEntry, ip string) (NeighEntry, bool) {
	for _, n := range list {
		if n.IP == ip {
			return n, true
		}
	}
	return NeighEntry{}, false
}
