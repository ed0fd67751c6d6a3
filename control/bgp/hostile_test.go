package bgp_test

import (
	"context"
	"testing"

	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// An EVPN type-2 NLRI shorter than its route distinguisher made GoBGP
// v3.37.0's decoder panic in the session's receive goroutine, which ended
// the whole process (third_party/gobgp/PATCHES.md). Now the session is
// reset with a NOTIFICATION (RFC 7606: an NLRI that cannot be read) and
// the speaker lives on.
func TestMalformedNLRIResetsSession(t *testing.T) {
	s := newNode(t, "127.0.0.71", "10.0.0.71")
	ctx := context.Background()
	if err := s.SetPeers(ctx, []bgp.PeerConfig{{Address: "127.0.0.72", ASN: bgptest.ASN, Passive: true, LocalAddress: s.IP}}); err != nil {
		t.Fatal(err)
	}
	p := bgptest.DialRaw(t, "127.0.0.72", s)
	origin := []byte{0x40, 1, 1, 0}
	asPath := []byte{0x40, 2, 0}
	// MP_REACH_NLRI: AFI 25 SAFI 70, next hop 10.0.0.99, one NLRI:
	// route type 2, length 3, three bytes.
	mpReach := []byte{0x80, 14, 14, 0, 25, 70, 4, 10, 0, 0, 99, 0, 2, 3, 0, 0, 1}
	p.Send(bgptest.RawUpdate(origin, asPath, mpReach))
	for {
		m, err := p.Read()
		if err != nil {
			t.Fatalf("no NOTIFICATION before the connection ended: %v", err)
		}
		if m.Header.Type == bgppkt.BGP_MSG_KEEPALIVE {
			continue
		}
		n, ok := m.Body.(*bgppkt.BGPNotification)
		if !ok || n.ErrorCode != bgppkt.BGP_ERROR_UPDATE_MESSAGE_ERROR {
			t.Fatalf("got %T %+v, want a NOTIFICATION of an UPDATE message error", m.Body, m.Body)
		}
		t.Logf("NOTIFICATION code %d subcode %d", n.ErrorCode, n.ErrorSubcode)
		break
	}
	// The speaker is alive and still answers.
	if _, err := s.Peers(ctx); err != nil {
		t.Fatalf("the speaker after the malformed UPDATE: %v", err)
	}
}

// A peer removed while its session is in OpenConfirm gets a Cease, not a
// bare close: the other side may already count the session Established
// (it got our KEEPALIVE first) and, with graceful restart, would take a
// bare close for a restart and keep our routes stale (third_party/gobgp
// PATCHES.md).
func TestDeletePeerInOpenConfirmSendsCease(t *testing.T) {
	s := newNode(t, "127.0.0.73", "10.0.0.73")
	ctx := context.Background()
	if err := s.SetPeers(ctx, []bgp.PeerConfig{{Address: "127.0.0.74", ASN: bgptest.ASN, Passive: true, LocalAddress: s.IP}}); err != nil {
		t.Fatal(err)
	}
	p := bgptest.DialRawOpenConfirm(t, "127.0.0.74", s)
	bgptest.WaitFor(t, "openconfirm on the speaker", bgptest.SessionTimeout, func() bool {
		return peerOf(t, s.Speaker, "127.0.0.74").State == "openconfirm"
	})
	if err := s.SetPeers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	m, err := p.Read()
	if err != nil {
		t.Fatalf("no NOTIFICATION before the connection ended: %v", err)
	}
	n, ok := m.Body.(*bgppkt.BGPNotification)
	if !ok || n.ErrorCode != bgppkt.BGP_ERROR_CEASE {
		t.Fatalf("got %T %+v, want a Cease NOTIFICATION", m.Body, m.Body)
	}
	t.Logf("NOTIFICATION code %d subcode %d", n.ErrorCode, n.ErrorSubcode)
}
