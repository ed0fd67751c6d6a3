package lab

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IANA protocol numbers, as icmp.ParseMessage wants them.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// echoPayload is the size of a request's data, ping's default (56 bytes:
// 84-byte IPv4 packets): the first 8 bytes are the socket's token.
const echoPayload = 56

// echoSocket sends ICMP echo requests from a namespace to one address and
// reads the answers to them. It is a raw socket (the lab runs as root; the
// unprivileged ping sockets need net.ipv4.ping_group_range, which a new
// namespace does not grant to root's group): opened on a thread inside the
// namespace, it stays there and can be used from any goroutine. A raw
// socket sees every echo reply the namespace receives, so each socket's
// requests carry a random identifier and token, and only answers with both
// count.
type echoSocket struct {
	conn      *icmp.PacketConn
	dst       *net.IPAddr
	proto     int
	echo      icmp.Type
	reply     icmp.Type
	id        int
	payload   []byte
	readBuf   []byte
	isV6      bool
	namespace string
}

// openEcho opens an echo socket in namespace ns towards dst (IPv4 or IPv6).
func openEcho(ns, dst string) (*echoSocket, error) {
	addr, err := netip.ParseAddr(dst)
	if err != nil {
		return nil, fmt.Errorf("ping %q: not an IP address", dst)
	}
	addr = addr.Unmap()
	s := &echoSocket{dst: &net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}, isV6: addr.Is6(), namespace: ns,
		readBuf: make([]byte, 1500)}
	s.proto, s.echo, s.reply = protoICMP, ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if s.isV6 {
		s.proto, s.echo, s.reply = protoICMPv6, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	s.conn, s.id, s.payload, err = listenEcho(ns, s.isV6)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// listenEcho opens a raw ICMP (v6 for ICMPv6) socket on a thread inside
// namespace ns, has the kernel drop all but echo replies (neighbour
// discovery, requests to this namespace) before they reach us, and draws
// a random echo ID and payload for its requests.
func listenEcho(ns string, v6 bool) (conn *icmp.PacketConn, id int, payload []byte, err error) {
	network, laddr := "ip4:icmp", "0.0.0.0"
	if v6 {
		network, laddr = "ip6:ipv6-icmp", "::"
	}
	if err := inNetns(ns, func() (err error) {
		conn, err = icmp.ListenPacket(network, laddr)
		return err
	}); err != nil {
		return nil, 0, nil, fmt.Errorf("icmp socket in %s: %w", ns, err)
	}
	if v6 {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		err = conn.IPv6PacketConn().SetICMPFilter(&f)
	} else {
		var f ipv4.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv4.ICMPTypeEchoReply)
		err = conn.IPv4PacketConn().SetICMPFilter(&f)
	}
	if err != nil {
		conn.Close()
		return nil, 0, nil, fmt.Errorf("icmp filter in %s: %w", ns, err)
	}
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		conn.Close()
		return nil, 0, nil, err
	}
	payload = make([]byte, echoPayload)
	copy(payload, rnd[2:])
	return conn, int(binary.BigEndian.Uint16(rnd[:2])), payload, nil
}

// send sends request seq (its low 16 bits go on the wire).
func (s *echoSocket) send(seq int) error {
	msg := icmp.Message{Type: s.echo, Body: &icmp.Echo{ID: s.id, Seq: seq & 0xffff, Data: s.payload}}
	// ICMPv4: Marshal computes the checksum; ICMPv6: the kernel does.
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := s.conn.WriteTo(b, s.dst); err != nil {
		return fmt.Errorf("send echo request to %s from %s: %w", s.dst, s.namespace, err)
	}
	return nil
}

// recv waits for the next answer to one of this socket's requests and
// returns its 16-bit sequence number and when it was read. It returns an
// error once the socket is closed.
func (s *echoSocket) recv() (uint16, time.Time, error) {
	for {
		n, _, err := s.conn.ReadFrom(s.readBuf)
		if err != nil {
			return 0, time.Time{}, err
		}
		at := time.Now()
		m, err := icmp.ParseMessage(s.proto, s.readBuf[:n])
		if err != nil || m.Type != s.reply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != s.id || !bytes.Equal(e.Data, s.payload) {
			continue // another socket's, or not ours at all
		}
		return uint16(e.Seq), at, nil
	}
}

// close closes the socket; a recv in progress returns.
func (s *echoSocket) close() error { return s.conn.Close() }
