package srcloop

import "sync"

// Inbox is a source's local input: the latest value per key, and the keys
// changed since the loop last took them, so that a pass handles only what
// changed (10,000 endpoints arriving one at a time cost 10,000 small
// passes, not a quadratic sum). Put and Delete may be called from any
// goroutine and return at once; Take is the loop's.
type Inbox[K comparable, V any] struct {
	same func(a, b V) bool // a put of an equal value changes nothing
	kick func()

	mu    sync.Mutex
	vals  map[K]V
	dirty map[K]struct{}
}

// NewInbox returns an empty Inbox that calls kick when something changed.
func NewInbox[K comparable, V any](same func(a, b V) bool, kick func()) *Inbox[K, V] {
	return &Inbox[K, V]{same: same, kick: kick, vals: map[K]V{}, dirty: map[K]struct{}{}}
}

// Put sets k's value.
func (b *Inbox[K, V]) Put(k K, v V) {
	b.mu.Lock()
	old, ok := b.vals[k]
	b.vals[k] = v
	changed := !ok || !b.same(old, v)
	if changed {
		b.dirty[k] = struct{}{}
	}
	b.mu.Unlock()
	if changed {
		b.kick()
	}
}

// Delete forgets k.
func (b *Inbox[K, V]) Delete(k K) {
	b.mu.Lock()
	_, ok := b.vals[k]
	delete(b.vals, k)
	if ok {
		b.dirty[k] = struct{}{}
	}
	b.mu.Unlock()
	if ok {
		b.kick()
	}
}

// Take returns the keys changed since the last Take, each with its value
// and whether it still has one (false: deleted).
func (b *Inbox[K, V]) Take() map[K]Value[V] {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[K]Value[V], len(b.dirty))
	for k := range b.dirty {
		v, ok := b.vals[k]
		out[k] = Value[V]{V: v, OK: ok}
	}
	if len(b.dirty) > 256 {
		// A cleared map keeps its buckets, and ranging over it costs what
		// it once held: after a burst of 10,000 endpoints, every later
		// Take would.
		b.dirty = map[K]struct{}{}
	} else {
		clear(b.dirty)
	}
	return out
}

// Keys returns every key that has a value.
func (b *Inbox[K, V]) Keys() []K {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]K, 0, len(b.vals))
	for k := range b.vals {
		out = append(out, k)
	}
	return out
}

// Value is a key's value as Take found it.
type Value[V any] struct {
	V  V
	OK bool // false: the key was deleted
}
