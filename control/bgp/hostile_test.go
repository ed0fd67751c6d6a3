package bgp_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// rawPeer is a BGP speaker written by hand, so that it can send what no
// real speaker would.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
}

// dialRaw opens a session from local to s as an iBGP peer for EVPN:
// OPEN and KEEPALIVE both ways. GoBGP closes what it is offered until the
// peer's FSM has left its first idle state, so it tries again until then.
func dialRaw(t *testing.T, local string, s *bgptest.Speaker) *rawPeer {
	t.Helper()
	var p *rawPeer
	var last error
	bgptest.WaitFor(t, "a session from the raw peer", 15*time.Second, func() bool {
		p, last = handshake(t, local, s)
		return last == nil
	})
	t.Cleanup(func() { p.conn.Close() })
	return p
}

func handshake(t *testing.T, local string, s *bgptest.Speaker) (*rawPeer, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	conn, err := d.Dial("tcp", net.JoinHostPort(s.IP, strconv.Itoa(int(s.Port))))
	if err != nil {
		return nil, err
	}
	p := &rawPeer{t: t, conn: conn}
	open, err := bgppkt.NewBGPOpenMessage(uint16(bgptest.ASN), 9, "10.0.0.99", []bgppkt.OptionParameterInterface{
		bgppkt.NewOptionParameterCapability([]bgppkt.ParameterCapabilityInterface{
			bgppkt.NewCapMultiProtocol(bgppkt.RF_EVPN), bgppkt.NewCapFourOctetASNumber(bgptest.ASN)})}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := bgppkt.NewBGPKeepAliveMessage().Serialize()
	for _, step := range []struct {
		send []byte
		want uint8
	}{{open, bgppkt.BGP_MSG_OPEN}, {ka, bgppkt.BGP_MSG_KEEPALIVE}} {
		if _, err := conn.Write(step.send); err != nil {
			conn.Close()
			return nil, err
		}
		m, err := p.read()
		if err == nil && m.Header.Type != step.want {
			err = fmt.Errorf("got message type %d, want %d", m.Header.Type, step.want)
		}
		if err != nil {
			conn.Close()
			return nil, err
		}
	}
	return p, nil
}

func (p *rawPeer) send(b []byte) {
	p.t.Helper()
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("raw peer send: %v", err)
	}
}

// read reads one message, within 5 s.
func (p *rawPeer) read() (*bgppkt.BGPMessage, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, bgppkt.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(p.conn, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	if n < bgppkt.BGP_HEADER_LENGTH {
		return nil, fmt.Errorf("message length %d", n)
	}
	body := make([]byte, n-bgppkt.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(p.conn, body); err != nil {
		return nil, err
	}
	return bgppkt.ParseBGPMessage(append(hdr, body...))
}

// rawUpdate frames path attributes as an UPDATE without withdrawn routes
// or IPv4 NLRI.
func rawUpdate(attrs ...[]byte) []byte {
	var as []byte
	for _, a := range attrs {
		as = append(as, a...)
	}
	body := binary.BigEndian.AppendUint16([]byte{0, 0}, uint16(len(as)))
	body = append(body, as...)
	msg := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	msg = binary.BigEndian.AppendUint16(msg, uint16(bgppkt.BGP_HEADER_LENGTH+len(body)))
	return append(append(msg, bgppkt.BGP_MSG_UPDATE), body...)
}

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
	p := dialRaw(t, "127.0.0.72", s)
	origin := []byte{0x40, 1, 1, 0}
	asPath := []byte{0x40, 2, 0}
	// MP_REACH_NLRI: AFI 25 SAFI 70, next hop 10.0.0.99, one NLRI:
	// route type 2, length 3, three bytes.
	mpReach := []byte{0x80, 14, 14, 0, 25, 70, 4, 10, 0, 0, 99, 0, 2, 3, 0, 0, 1}
	p.send(rawUpdate(origin, asPath, mpReach))
	for {
		m, err := p.read()
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
