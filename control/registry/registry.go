// Package registry holds the agent's local endpoints: the pods the CNI
// plugin attached on this host. Two inputs feed it — the local API (the
// plugin's PUT and DELETE after each ADD and DEL) and the address store on
// disk (ipam), which the plugin writes first and which is the truth:
// read at start, and again every Resync to catch what the plugin could
// not deliver (agent down or busy). The registry hands every change, one
// endpoint at a time, to its listeners (the EVPN and routed sources).
//
// One goroutine (Run) owns the endpoints and applies both inputs in the
// order they came: API calls only queue their change and return; a store
// read runs on the owner goroutine, and the API changes that queued
// meanwhile are applied after it, so the API's word stands over a store
// read that may predate it, with no bookkeeping of who came when. The
// price is that an API change waits for a store read in progress (a
// millisecond per thousand endpoints) before it reaches the sources.
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/vxbgp/vxbgp/endpoint"
)

// Store is where the plugin records the endpoints (ipam.Store).
type Store interface {
	Endpoints() ([]endpoint.Endpoint, error)
}

// Listener receives every change. Its methods must return at once: they
// run on the registry's goroutine.
type Listener interface {
	PutEndpoint(endpoint.Endpoint)
	DeleteEndpoint(endpoint.Key)
}

// DefaultResync is how often the store is read again.
const DefaultResync = 10 * time.Second

// Registry is the set of local endpoints. The zero value is not usable;
// call New.
type Registry struct {
	store     Store
	listeners []Listener
	resync    time.Duration
	log       *slog.Logger

	qmu   sync.Mutex
	queue []change      // API changes not applied yet
	kick  chan struct{} // the queue grew

	mu  sync.RWMutex // written by the owner only; readers are List and Len
	eps map[endpoint.Key]endpoint.Endpoint
}

// change is one API call: a put (ep set) or a delete.
type change struct {
	key endpoint.Key
	ep  *endpoint.Endpoint
}

// New returns an empty Registry reading store every resync (0: the
// default) and telling listeners.
func New(store Store, resync time.Duration, log *slog.Logger, listeners ...Listener) *Registry {
	if resync <= 0 {
		resync = DefaultResync
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		store: store, listeners: listeners, resync: resync, log: log,
		kick: make(chan struct{}, 1), eps: map[endpoint.Key]endpoint.Endpoint{},
	}
}

// Load reads the store and hands its endpoints to the listeners. Call it
// once before Run, with nothing else running: the agent does, so that the
// sources' first pass advertises every stored endpoint (see Ready in
// control/evpn) before any BGP session comes up.
func (r *Registry) Load() error { return r.load() }

// Put queues an endpoint the API announced (a CNI ADD) and returns at once.
func (r *Registry) Put(ep endpoint.Endpoint) { r.enqueue(change{key: ep.Key(), ep: &ep}) }

// Delete queues an endpoint's removal (a CNI DEL) and returns at once.
func (r *Registry) Delete(k endpoint.Key) { r.enqueue(change{key: k}) }

func (r *Registry) enqueue(c change) {
	r.qmu.Lock()
	r.queue = append(r.queue, c)
	r.qmu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run applies queued API changes and reads the store every resync until
// ctx ends. A failed store read is logged and tried again at the next
// resync.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
			r.drain()
		case <-t.C:
			if err := r.load(); err != nil {
				r.log.Warn("endpoint store resync failed", "err", err)
			}
			r.drain() // what the API said during the read comes after it
		}
	}
}

// drain applies the queued API changes in order.
func (r *Registry) drain() {
	r.qmu.Lock()
	q := r.queue
	r.queue = nil
	r.qmu.Unlock()
	for _, c := range q {
		if c.ep != nil {
			r.put(*c.ep)
		} else {
			r.del(c.key)
		}
	}
}

// load makes the store's endpoints the registry's: new and changed ones
// are put, missing ones deleted.
func (r *Registry) load() error {
	list, err := r.store.Endpoints()
	if err != nil {
		return fmt.Errorf("read endpoint store: %w", err)
	}
	next := make(map[endpoint.Key]endpoint.Endpoint, len(list))
	for _, ep := range list {
		next[ep.Key()] = ep
	}
	r.mu.RLock()
	var gone []endpoint.Key
	for k := range r.eps {
		if _, ok := next[k]; !ok {
			gone = append(gone, k)
		}
	}
	r.mu.RUnlock()
	for _, k := range gone {
		r.del(k)
	}
	for _, ep := range next {
		r.put(ep)
	}
	return nil
}

func (r *Registry) put(ep endpoint.Endpoint) {
	k := ep.Key()
	r.mu.Lock()
	old, had := r.eps[k]
	r.eps[k] = ep
	r.mu.Unlock()
	if had && old.Equal(ep) {
		return
	}
	for _, l := range r.listeners {
		l.PutEndpoint(ep)
	}
}

func (r *Registry) del(k endpoint.Key) {
	r.mu.Lock()
	_, had := r.eps[k]
	delete(r.eps, k)
	r.mu.Unlock()
	if !had {
		return
	}
	for _, l := range r.listeners {
		l.DeleteEndpoint(k)
	}
}

// List returns the endpoints, sorted by key.
func (r *Registry) List() []endpoint.Endpoint {
	r.mu.RLock()
	out := slices.Collect(maps.Values(r.eps))
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b endpoint.Endpoint) int { return endpoint.Compare(a.Key(), b.Key()) })
	return out
}

// Len is the number of endpoints.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.eps)
}
