package peer

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// speaker records SetPeers; it fails while fail is set.
type speaker struct {
	mu    sync.Mutex
	peers []bgp.PeerConfig
	calls int
	fail  bool
}

func (s *speaker) SetPeers(ctx context.Context, ps []bgp.PeerConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail {
		return errors.New("injected")
	}
	s.peers = slices.Clone(ps)
	return nil
}

// text renders the configured peers as "address/asn/password", sorted.
func (s *speaker) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.peers {
		out = append(out, p.Address+"/"+strconv.Itoa(int(p.ASN))+"/"+p.Password)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// fakeSource is a peer source a test drives: what discovery or the
// Kubernetes Node informer will be.
type fakeSource struct {
	name    string
	publish chan []Peer
}

func (f *fakeSource) Name() string { return f.name }

func (f *fakeSource) Run(ctx context.Context, publish func([]Peer)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ps := <-f.publish:
			publish(ps)
		}
	}
}

func p(addr string, asn uint32, password string) Peer {
	return Peer{Address: netip.MustParseAddr(addr), ASN: asn, Password: password}
}

func template(p Peer) bgp.PeerConfig {
	return bgp.PeerConfig{Address: p.Address.String(), ASN: p.ASN, Password: p.Password}
}

func waitText(t *testing.T, s *speaker, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.text() != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("peers %q, want %q", s.text(), want)
		}
	}
}

// A source that adds and removes peers changes the speaker's peers; a
// host both static and discovered is one peer, configured as the static
// list says; the static list outlives the other source's changes.
func TestSetUnion(t *testing.T) {
	sp := &speaker{}
	disc := &fakeSource{name: "discovered", publish: make(chan []Peer)}
	set := NewSet(sp, template, nil, Static{p("10.0.0.254", 5, "tor")}, disc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- set.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitText(t, sp, "10.0.0.254/5/tor")

	disc.publish <- []Peer{p("10.0.0.2", 2, ""), p("10.0.0.3", 2, "")}
	waitText(t, sp, "10.0.0.2/2/ 10.0.0.254/5/tor 10.0.0.3/2/")
	if got := set.SourceOf(netip.MustParseAddr("10.0.0.2")); got != "discovered" {
		t.Errorf("source of 10.0.0.2: %q", got)
	}

	// 10.0.0.254 found by discovery too: still one peer, the static one.
	disc.publish <- []Peer{p("10.0.0.3", 2, ""), p("10.0.0.254", 2, "")}
	waitText(t, sp, "10.0.0.254/5/tor 10.0.0.3/2/")
	if got := set.SourceOf(netip.MustParseAddr("10.0.0.254")); got != "static" {
		t.Errorf("source of 10.0.0.254: %q, want static", got)
	}

	disc.publish <- nil
	waitText(t, sp, "10.0.0.254/5/tor")
	if got := set.SourceOf(netip.MustParseAddr("10.0.0.3")); got != "" {
		t.Errorf("source of a removed peer: %q", got)
	}
}

// A failed SetPeers is retried until it takes.
func TestSetRetries(t *testing.T) {
	sp := &speaker{fail: true}
	set := NewSet(sp, template, nil, Static{p("10.0.0.254", 5, "")})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = set.Run(ctx) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		sp.mu.Lock()
		calls := sp.calls
		sp.mu.Unlock()
		if calls >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SetPeers not retried")
		}
	}
	sp.mu.Lock()
	sp.fail = false
	sp.mu.Unlock()
	waitText(t, sp, "10.0.0.254/5/")
}

// A source that fails ends Run with its error, and the others with it.
func TestSetSourceFails(t *testing.T) {
	set := NewSet(&speaker{}, template, nil, Static{p("10.0.0.254", 5, "")}, failing{})
	err := set.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "peer source broken: boom") {
		t.Fatalf("Run: %v", err)
	}
}

type failing struct{}

func (failing) Name() string                                        { return "broken" }
func (failing) Run(ctx context.Context, publish func([]Peer)) error { return errors.New("boom") }
