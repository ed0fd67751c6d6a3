package mask

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// rig runs a Masker whose probe answers as answers says, and records what
// it publishes.
type rig struct {
	m *Masker

	mu       sync.Mutex
	answers  map[netip.Addr]bool
	probes   []netip.Addr
	last     map[netip.Addr]bool
	publishs int
}

func newRig(t *testing.T) *rig {
	r := &rig{answers: map[netip.Addr]bool{}}
	r.m = New(Config{
		Probe: func(ctx context.Context, a netip.Addr) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.probes = append(r.probes, a)
			return r.answers[a]
		},
		Publish: func(m map[netip.Addr]bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.last, r.publishs = m, r.publishs+1
		},
		Logger: bgptest.Logger(t),
	})
	bgptest.Background(t, "masker", r.m.Run)
	return r
}

func (r *rig) probed() []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.probes)
}

func (r *rig) masked() []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []netip.Addr
	for a := range r.last {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (r *rig) wait(t *testing.T, what string, want ...netip.Addr) {
	t.Helper()
	bgptest.WaitFor(t, what, 5*time.Second, func() bool { return slices.Equal(r.masked(), want) })
}

// stays checks that nothing changes for a while (what an unmasked death
// must look like).
func (r *rig) stays(t *testing.T, what string, want ...netip.Addr) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	if got := r.masked(); !slices.Equal(got, want) {
		t.Fatalf("%s: masked %v, want %v", what, got, want)
	}
}

var (
	self = netip.MustParseAddr("10.250.0.1")
	h2   = netip.MustParseAddr("10.250.0.2")
	h3   = netip.MustParseAddr("10.250.0.3")
)

func members(alive map[netip.Addr]bool, addrs ...netip.Addr) []Member {
	var out []Member
	for _, a := range addrs {
		out = append(out, Member{Name: a.String(), Addr: a, Alive: alive[a]})
	}
	return out
}

// threeUp is a rig whose members self, h2 and h3 are alive, h2 answering
// the probe as answers says, with h2's session up and its End-of-RIB in;
// setAlive changes h2's liveness.
func threeUp(t *testing.T, answers bool) (r *rig, h bgp.Handler, setAlive func(bool)) {
	r = newRig(t)
	r.answers[h2] = answers
	all := map[netip.Addr]bool{self: true, h2: true, h3: true}
	r.m.SetMembers(members(all, self, h2, h3))
	h = r.m.Handler()
	h.Peer(h2.String(), true)
	h.EOR("evpn", h2.String())
	return r, h, func(alive bool) {
		all[h2] = alive
		r.m.SetMembers(members(all, self, h2, h3))
	}
}

// A host that dies with its BGP session up (it went silent) is masked once
// the probe gets no answer; it is unmasked only when it is alive again and
// its routes are current: here the session broke meanwhile, so only once
// a new one has sent End-of-RIB.
func TestPowerOff(t *testing.T) {
	r, h, setAlive := threeUp(t, false)
	r.stays(t, "all alive")

	setAlive(false)
	r.wait(t, "h2 masked", h2)
	if !slices.Equal(r.probed(), []netip.Addr{h2}) {
		t.Errorf("probed %v, want h2 once", r.probed())
	}

	h.Peer(h2.String(), false) // the hold timer finally expired
	setAlive(true)
	r.stays(t, "alive again but its session has not come back", h2)
	h.Peer(h2.String(), true)
	r.stays(t, "session back, no End-of-RIB yet", h2)
	h.EOR("evpn", h2.String())
	r.wait(t, "h2 unmasked")
	if st := r.m.Stats(); st.Masks != 1 || st.Unmasks != 1 || st.Masked != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A host cut off for less than the hold time: masked, and back as soon as
// gossip says it is alive, since its session never broke and the routes
// it carried are current.
func TestShortCutKeepsSession(t *testing.T) {
	r, _, setAlive := threeUp(t, false)
	setAlive(false)
	r.wait(t, "h2 masked", h2)
	setAlive(true)
	r.wait(t, "h2 unmasked")
}

// A busy host that gossip wrongly declares dead keeps its session and
// answers the probe: not masked, although its session is up.
func TestFalseDeathWithSessionUp(t *testing.T) {
	r, _, setAlive := threeUp(t, true)
	setAlive(false)
	bgptest.WaitFor(t, "the probe", 5*time.Second, func() bool { return r.m.Stats().Unconfirmed == 1 })
	r.stays(t, "a false death")
}

// An agent killed on a live host: its session closed (the kernel closed
// the socket), it is declared dead, the probe gets an answer: not masked.
func TestAgentRestartIsNotADeath(t *testing.T) {
	r := newRig(t)
	r.answers[h2] = true
	all := map[netip.Addr]bool{self: true, h2: true, h3: true}
	r.m.SetMembers(members(all, self, h2, h3))
	h := r.m.Handler()
	h.Peer(h2.String(), true)
	h.Peer(h2.String(), false)
	all[h2] = false
	r.m.SetMembers(members(all, self, h2, h3))
	bgptest.WaitFor(t, "the probe", 5*time.Second, func() bool { return r.m.Stats().Unconfirmed == 1 })
	r.stays(t, "a restart")
	all[h2] = true
	r.m.SetMembers(members(all, self, h2, h3))
	r.stays(t, "back")
	if st := r.m.Stats(); st.Masks != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A member that is no BGP peer of ours (another AS) and does not answer
// is masked on the probe, and unmasked as soon as it is alive.
func TestProbeConfirms(t *testing.T) {
	r := newRig(t)
	all := map[netip.Addr]bool{self: true, h2: true, h3: true}
	r.m.SetMembers(members(all, self, h2, h3))
	all[h3] = false
	r.m.SetMembers(members(all, self, h2, h3))
	r.wait(t, "h3 masked", h3)
	all[h3] = true
	r.m.SetMembers(members(all, self, h2, h3))
	r.wait(t, "h3 unmasked")
}

// More than a third of the members dying at once: this host is the one
// cut off, and masks nobody; fewer is an ordinary failure.
func TestIsolation(t *testing.T) {
	var addrs []netip.Addr
	all := map[netip.Addr]bool{}
	for i := range 7 {
		a := netip.AddrFrom4([4]byte{10, 250, 0, byte(i + 1)})
		addrs = append(addrs, a)
		all[a] = true
	}
	r := newRig(t)
	r.m.SetMembers(members(all, addrs...))
	all[addrs[1]], all[addrs[2]], all[addrs[3]] = false, false, false // 3 of 7 > a third
	r.m.SetMembers(members(all, addrs...))
	bgptest.WaitFor(t, "the isolation rule", 5*time.Second, func() bool { return r.m.Stats().Isolated == 3 })
	r.stays(t, "isolated")

	r2 := newRig(t)
	all = map[netip.Addr]bool{}
	for _, a := range addrs {
		all[a] = true
	}
	r2.m.SetMembers(members(all, addrs...))
	all[addrs[1]], all[addrs[2]] = false, false // 2 of 7: not isolated
	r2.m.SetMembers(members(all, addrs...))
	r2.wait(t, "two masked", addrs[1], addrs[2])
}

// TCPProbe: a listening port and a refused one are answers; an address
// that says nothing is not.
func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if !TCPProbe(ctx, netip.MustParseAddrPort(l.Addr().String())) {
		t.Error("a listening port did not answer")
	}
	closed := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	if !TCPProbe(ctx, closed) {
		t.Error("a refused connection is an answer: the host is alive")
	}
	// TEST-NET-1 (RFC 5737): nothing answers there.
	start := time.Now()
	if TCPProbe(ctx, netip.MustParseAddrPort("192.0.2.77:179")) {
		t.Error("an address that says nothing answered")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the probe took %v, beyond its context", took)
	}
}
