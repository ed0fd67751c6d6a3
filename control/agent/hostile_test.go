package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// The whole agent, with a real speaker, under a hand-written peer: a route
// the agent must refuse (a multicast MAC) never reaches the kernel, the
// good route of the same UPDATE does, the session stays up, and /metrics
// counts the refusal. control/evpn's hostile tests go through every kind.
func TestAgentHostileRoute(t *testing.T) {
	const self, peer = "127.0.0.141", "127.0.0.142"
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	cfg.BGP.Peers = []config.Peer{{Address: peer, ASN: bgptest.ASN}}
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", bgptest.FreePort(t, "127.0.0.1"))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	port := bgptest.FreePort(t, self)
	dp := overlaytest.New()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var sp *bgp.Speaker // written by the agent's goroutine, read after done
	go func() {
		done <- RunWith(ctx, cfg, bgptest.Logger(t), Parts{Dataplane: dp, NewSpeaker: func(ctx context.Context, c bgp.Config) (Speaker, error) {
			c.ListenAddress, c.ListenPort = self, port // the underlay address is not on this host
			var err error
			sp, err = bgp.New(ctx, c)
			return localSpeaker{sp, self}, err
		}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		// The agent leaves its sessions up (Close); a running GoBGP would
		// race with the next test's speaker (package variables, bgp.New).
		if sp != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sp.Stop(ctx); err != nil {
				t.Errorf("stop speaker: %v", err)
			}
		}
	})

	p := bgptest.DialRaw(t, peer, &bgptest.Speaker{IP: self, Port: port})
	rd := bgppkt.NewRouteDistinguisherIPAddressAS(peer, 1)
	esi := bgppkt.EthernetSegmentIdentifier{Type: bgppkt.ESI_ARBITRARY, Value: make([]byte, 9)}
	var attrs [][]byte
	for _, a := range []bgppkt.PathAttributeInterface{
		bgppkt.NewPathAttributeOrigin(0), bgppkt.NewPathAttributeAsPath(nil),
		bgppkt.NewPathAttributeMpReachNLRI(peerVTEP, []bgppkt.AddrPrefixInterface{
			bgppkt.NewEVPNMacIPAdvertisementRoute(rd, esi, 0, "01:00:5e:00:00:01", "10.244.2.1", []uint32{100}),
			bgppkt.NewEVPNMacIPAdvertisementRoute(rd, esi, 0, "02:00:00:00:02:02", "10.244.2.2", []uint32{100}),
		}),
		bgppkt.NewPathAttributeExtendedCommunities([]bgppkt.ExtendedCommunityInterface{
			bgppkt.NewTwoOctetAsSpecificExtended(bgppkt.EC_SUBTYPE_ROUTE_TARGET, bgptest.ASN, 100, true)}),
	} {
		b, err := a.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		attrs = append(attrs, b)
	}
	p.Send(bgptest.RawUpdate(attrs...))

	kernelHas(t, dp, "the good route", []string{fdb("02:00:00:00:02:02"), "neigh 10.244.2.2 lladdr 02:00:00:00:02:02"}, nil)
	if s := dp.State().String(); strings.Contains(s, "01:00:5e") {
		t.Fatalf("the multicast MAC reached the kernel:\n%s", s)
	}
	bgptest.WaitFor(t, "the metrics listener", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", cfg.Metrics.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	bgptest.WaitFor(t, "the refusal and the session in /metrics", 10*time.Second, func() bool {
		m := get(t, http.DefaultClient, "http://"+cfg.Metrics.Listen+"/metrics")
		return strings.Contains(m, `vxbgp_routes_rejected_total{family="evpn",reason="bad_mac"} 1`) &&
			strings.Contains(m, "vxbgp_bgp_peers_established 1")
	})
	if s := dp.State().String(); strings.Contains(s, "01:00:5e") {
		t.Fatalf("the multicast MAC reached the kernel:\n%s", s)
	}
}

// localSpeaker is a real speaker whose sessions use local, not the
// underlay address the agent gives them (not on this host).
type localSpeaker struct {
	*bgp.Speaker
	local string
}

func (s localSpeaker) SetPeers(ctx context.Context, peers []bgp.PeerConfig) error {
	for i := range peers {
		peers[i].LocalAddress = s.local
	}
	return s.Speaker.SetPeers(ctx, peers)
}
