package bgptest

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
)

// Speaker is a speaker under test with what its peers need to reach it.
type Speaker struct {
	*bgp.Speaker
	Name     string // for log and failure messages
	IP       string // listen address: where peers dial, and the local address of its sessions
	RouterID string
	ASN      uint32
	Port     int32 // listen port
}

// Start starts a speaker from c listening on ip and stops it (Stop, a hard
// reset) when the test ends. Its port is c.ListenPort, or if that is 0 a
// free one (Start tries again if another process takes it first); its
// logger is c.Logger, or if that is nil Logger(t).
func Start(t testing.TB, name, ip string, c bgp.Config) *Speaker {
	t.Helper()
	if c.Logger == nil {
		c.Logger = Logger(t).With("speaker", name)
	}
	c.ListenAddress = ip
	free := c.ListenPort == 0
	for attempt := 0; ; attempt++ {
		if free {
			c.ListenPort = FreePort(t, ip)
		}
		sp, err := bgp.New(context.Background(), c)
		if err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := sp.Stop(ctx); err != nil {
					t.Errorf("stop %s: %v", name, err)
				}
			})
			return &Speaker{Speaker: sp, Name: name, IP: ip, RouterID: c.RouterID, ASN: c.ASN, Port: c.ListenPort}
		}
		if !free || !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			t.Fatalf("start speaker %s on %s port %d: %v", name, ip, c.ListenPort, err)
		}
	}
}

// PeerConfig is how s configures a session to to, which s dials.
func (s *Speaker) PeerConfig(to *Speaker, families ...string) bgp.PeerConfig {
	return bgp.PeerConfig{Address: to.IP, ASN: to.ASN, Port: uint16(to.Port), LocalAddress: s.IP, Families: families}
}

// PassivePeerConfig is how s configures a session to to that to dials
// (see bgp.PeerConfig.Passive).
func (s *Speaker) PassivePeerConfig(to *Speaker, families ...string) bgp.PeerConfig {
	p := s.PeerConfig(to, families...)
	p.Passive = true
	return p
}

// Peer sets s's peers to others, for families (nil: bgp's default). Of
// each pair the higher address is passive, so that a mesh configured with
// Peer on every speaker has one session per pair.
func (s *Speaker) Peer(t testing.TB, families []string, others ...*Speaker) {
	t.Helper()
	var ps []bgp.PeerConfig
	for _, o := range others {
		p := s.PeerConfig(o, families...)
		p.Passive = netip.MustParseAddr(s.IP).Compare(netip.MustParseAddr(o.IP)) > 0
		ps = append(ps, p)
	}
	if err := s.SetPeers(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
}

// Connect peers a and b for families (none: bgp's default); a dials, b is
// passive.
func Connect(t testing.TB, a, b *Speaker, families ...string) {
	t.Helper()
	if err := a.SetPeers(context.Background(), []bgp.PeerConfig{a.PeerConfig(b, families...)}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeers(context.Background(), []bgp.PeerConfig{b.PassivePeerConfig(a, families...)}); err != nil {
		t.Fatal(err)
	}
}

// Originate originates a unicast route to prefix via nexthop (AddUnicast).
func (s *Speaker) Originate(t testing.TB, prefix, nexthop string) {
	t.Helper()
	if err := s.AddUnicast(context.Background(), netip.MustParsePrefix(prefix), netip.MustParseAddr(nexthop)); err != nil {
		t.Fatal(err)
	}
}
