package bgptest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// RawPeer is a BGP speaker written by hand, so that it can send what no
// real speaker would: the hostile-input tests' peer.
type RawPeer struct {
	t    testing.TB
	conn net.Conn
	done chan struct{}
}

// DialRaw opens a session from local to s as an iBGP peer for EVPN:
// OPEN and KEEPALIVE both ways; s must list local as a (passive) peer.
// GoBGP closes what it is offered until the peer's FSM has left its first
// idle state, so it tries again until then. The connection is closed when
// the test ends. It sends a KEEPALIVE every second meanwhile, so that a
// test can take longer than the hold time.
func DialRaw(t testing.TB, local string, s *Speaker) *RawPeer {
	t.Helper()
	var p *RawPeer
	var last error
	WaitFor(t, "a session from the raw peer", 15*time.Second, func() bool {
		p, last = handshake(t, local, s, true)
		return last == nil
	})
	t.Cleanup(p.Close)
	go p.keepalive()
	return p
}

// DialRawOpenConfirm is DialRaw stopped halfway: it sends its OPEN and
// reads s's OPEN and KEEPALIVE, but never sends a KEEPALIVE, so s's side
// of the session stays in OpenConfirm (for the hold time, 60 s).
func DialRawOpenConfirm(t testing.TB, local string, s *Speaker) *RawPeer {
	t.Helper()
	var p *RawPeer
	var last error
	WaitFor(t, "a half-open session from the raw peer", 15*time.Second, func() bool {
		p, last = handshake(t, local, s, false)
		return last == nil
	})
	t.Cleanup(p.Close)
	return p
}

func (p *RawPeer) keepalive() {
	ka, _ := bgppkt.NewBGPKeepAliveMessage().Serialize()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			if _, err := p.conn.Write(ka); err != nil {
				return
			}
		}
	}
}

func handshake(t testing.TB, local string, s *Speaker, keepalive bool) (*RawPeer, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	conn, err := d.Dial("tcp", net.JoinHostPort(s.IP, strconv.Itoa(int(s.Port))))
	if err != nil {
		return nil, err
	}
	p := &RawPeer{t: t, conn: conn, done: make(chan struct{})}
	open, err := bgppkt.NewBGPOpenMessage(uint16(ASN), 60, "10.0.0.99", []bgppkt.OptionParameterInterface{
		bgppkt.NewOptionParameterCapability([]bgppkt.ParameterCapabilityInterface{
			bgppkt.NewCapMultiProtocol(bgppkt.RF_EVPN), bgppkt.NewCapFourOctetASNumber(ASN)})}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	var ka []byte // nil: read s's KEEPALIVE without answering it
	if keepalive {
		ka, _ = bgppkt.NewBGPKeepAliveMessage().Serialize()
	}
	for _, step := range []struct {
		send []byte
		want uint8
	}{{open, bgppkt.BGP_MSG_OPEN}, {ka, bgppkt.BGP_MSG_KEEPALIVE}} {
		if _, err := conn.Write(step.send); err != nil {
			conn.Close()
			return nil, err
		}
		m, err := p.Read()
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

// Send writes b as is.
func (p *RawPeer) Send(b []byte) {
	p.t.Helper()
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("raw peer send: %v", err)
	}
}

// Read reads one message, within 5 s.
func (p *RawPeer) Read() (*bgppkt.BGPMessage, error) {
	return p.ReadWithin(5 * time.Second)
}

// ReadWithin reads one message, within d.
func (p *RawPeer) ReadWithin(d time.Duration) (*bgppkt.BGPMessage, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
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

// Close closes the connection; calling it again does nothing.
func (p *RawPeer) Close() {
	select {
	case <-p.done:
	default:
		close(p.done)
		p.conn.Close()
	}
}

// RawUpdate frames path attributes, each already encoded, as an UPDATE
// without withdrawn routes or IPv4 NLRI.
func RawUpdate(attrs ...[]byte) []byte {
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
