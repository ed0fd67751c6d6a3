package registry

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/endpoint"
	"github.com/vxbgp/vxbgp/overlay"
)

// store is a fake endpoint store; a read blocks while gate is set, so a
// test can change things in the middle of one.
type store struct {
	mu   sync.Mutex
	eps  []endpoint.Endpoint
	gate chan struct{} // non-nil: the next read signals reading and waits on it
	read chan struct{}
}

func (s *store) Endpoints() ([]endpoint.Endpoint, error) {
	s.mu.Lock()
	eps, gate, read := slices.Clone(s.eps), s.gate, s.read
	s.gate = nil
	s.mu.Unlock()
	if gate != nil {
		read <- struct{}{}
		<-gate
	}
	return eps, nil
}

func (s *store) set(eps ...endpoint.Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eps = eps
}

// listener records the changes in order, and fails on a delete of what it
// was never given.
type listener struct {
	t   testing.TB
	mu  sync.Mutex
	has map[endpoint.Key]endpoint.Endpoint
	log []string
}

func (l *listener) PutEndpoint(ep endpoint.Endpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.has[ep.Key()] = ep
	l.log = append(l.log, "put "+ep.Key().String())
}

func (l *listener) DeleteEndpoint(k endpoint.Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.has[k]; !ok {
		l.t.Errorf("delete of %s, never put", k)
	}
	delete(l.has, k)
	l.log = append(l.log, "del "+k.String())
}

func (l *listener) keys() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ks []string
	for k := range l.has {
		ks = append(ks, k.String())
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func (l *listener) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(l.log, ",")
	l.log = nil
	return s
}

func ep(id string, ip string) endpoint.Endpoint {
	return endpoint.Endpoint{ContainerID: id, IfName: "eth0", Network: "pods",
		MAC: overlay.MustParseMAC("02:00:00:00:00:01"), IPs: []netip.Addr{netip.MustParseAddr(ip)}}
}

func key(id string) endpoint.Key { return endpoint.Key{ContainerID: id, IfName: "eth0"} }

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}

func start(t *testing.T, r *Registry) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// Load hands the stored endpoints over; API puts and deletes follow, each
// told once; a put that changes nothing is not told again.
func TestRegistryLoadAndAPI(t *testing.T) {
	st := &store{}
	st.set(ep("a", "10.244.1.1"), ep("b", "10.244.1.2"))
	l := &listener{t: t, has: map[endpoint.Key]endpoint.Endpoint{}}
	r := New(st, time.Hour, nil, l)
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	if got := l.keys(); got != "a/eth0,b/eth0" {
		t.Fatalf("after Load: %s", got)
	}
	l.take()
	start(t, r)
	r.Put(ep("c", "10.244.1.3"))
	r.Put(ep("a", "10.244.1.1")) // unchanged
	r.Delete(key("b"))
	r.Delete(key("nope"))
	waitFor(t, "the API changes", func() bool { return l.keys() == "a/eth0,c/eth0" })
	if got := l.take(); got != "put c/eth0,del b/eth0" {
		t.Fatalf("told %s, want put c/eth0,del b/eth0", got)
	}
	if r.Len() != 2 || len(r.List()) != 2 || r.List()[0].ContainerID != "a" {
		t.Fatalf("List %+v", r.List())
	}
}

// The store is the truth, but a resync does not undo an API change that
// came while it was reading (the read may predate it): changes queued
// during a read are applied after it. An endpoint only ever announced
// goes at the next resync.
func TestRegistryResyncKeepsAPIChangesMadeWhileReading(t *testing.T) {
	st := &store{read: make(chan struct{})}
	st.set(ep("a", "10.244.1.1"), ep("b", "10.244.1.2"))
	l := &listener{t: t, has: map[endpoint.Key]endpoint.Endpoint{}}
	r := New(st, 20*time.Millisecond, nil, l)
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	l.take()
	gate := make(chan struct{})
	st.mu.Lock()
	st.gate = gate
	st.mu.Unlock()
	start(t, r)
	<-st.read // a resync is reading the store, which still has a and b
	r.Put(ep("c", "10.244.1.3"))
	r.Delete(key("a"))
	r.Delete(key("b"))
	st.set(ep("c", "10.244.1.3")) // what the plugin did meanwhile
	close(gate)
	waitFor(t, "the changes made during the read", func() bool { return l.keys() == "c/eth0" })
	time.Sleep(50 * time.Millisecond) // a resync or two more
	// Had the stale read been applied after the API's changes, a and b
	// would have come back (until the next resync).
	if got := l.take(); got != "put c/eth0,del a/eth0,del b/eth0" {
		t.Fatalf("told %s, want the API's changes only", got)
	}

	// An endpoint announced but never recorded goes at the next resync.
	r.Put(ep("x", "10.244.1.9"))
	waitFor(t, "x announced", func() bool { return strings.Contains(l.keys(), "x/eth0") })
	waitFor(t, "x gone at a resync", func() bool { return l.keys() == "c/eth0" })
	// A stored endpoint the agent missed arrives at the next resync.
	st.set(ep("c", "10.244.1.3"), ep("d", "10.244.1.4"))
	waitFor(t, "d from the store", func() bool { return l.keys() == "c/eth0,d/eth0" })
}
