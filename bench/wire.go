package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// The speaker's BGP sessions are raw: it accepts each peer's connection,
// exchanges OPEN and KEEPALIVE, and then only writes UPDATEs it encoded
// beforehand. A GoBGP server as the sender made the rows time the sender:
// its API takes ~40-170 µs a path, and a soft reset out computes one
// peer's table before the next's, so the receiver configured first got
// its table a few hundred ms earlier. Here both peers' tables are encoded
// before the clock starts and written to both sockets at once, each by its
// own goroutine, as fast as each receiver reads: what a route reflector
// dumping its table looks like to the receivers.

// wireSession is one established session.
type wireSession struct {
	peer string
	conn net.Conn
	mu   sync.Mutex // one writer at a time: keepalives go between chunks
	err  chan error // the reader's first error
}

const speakerHold = 90 // seconds, offered in our OPEN

// acceptSessions listens on local:179 until every peer has connected and
// the session is established (its OPEN read, ours and a KEEPALIVE sent, its
// KEEPALIVE read). A connection from another address is closed.
func acceptSessions(ctx context.Context, local netip.Addr, asn uint32, peers []peerArg, family bgp.RouteFamily) ([]*wireSession, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(local, 179).String())
	if err != nil {
		return nil, fmt.Errorf("speaker: listen: %w", err)
	}
	defer ln.Close()
	want := map[string]bool{}
	for _, p := range peers {
		want[p.addr] = true
	}
	got := map[string]*wireSession{}
	for len(got) < len(want) {
		if d, ok := ctx.Deadline(); ok {
			_ = ln.(*net.TCPListener).SetDeadline(d)
		}
		c, err := ln.Accept()
		if err != nil {
			return nil, fmt.Errorf("speaker: accept (%d of %d peers up): %w", len(got), len(want), err)
		}
		ra, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		peer := ra.Addr().Unmap().String()
		if !want[peer] || got[peer] != nil {
			_ = c.Close()
			continue
		}
		s, err := openSession(c, peer, local, asn, family)
		if err != nil {
			fmt.Fprintf(os.Stderr, "speaker: session with %s: %v (waiting for it to retry)\n", peer, err)
			_ = c.Close()
			continue
		}
		got[peer] = s
	}
	out := make([]*wireSession, 0, len(peers))
	for _, p := range peers {
		out = append(out, got[p.addr])
	}
	return out, nil
}

func openSession(c net.Conn, peer string, local netip.Addr, asn uint32, family bgp.RouteFamily) (*wireSession, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	t, _, err := readMsg(c)
	if err != nil || t != bgp.BGP_MSG_OPEN {
		return nil, fmt.Errorf("want OPEN, got type %d: %v", t, err)
	}
	as2 := uint16(bgp.AS_TRANS)
	if asn <= 0xffff {
		as2 = uint16(asn)
	}
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(family), bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(asn)}
	open := bgp.NewBGPOpenMessage(as2, speakerHold, local.String(), []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	s := &wireSession{peer: peer, conn: c, err: make(chan error, 1)}
	for _, m := range []*bgp.BGPMessage{open, bgp.NewBGPKeepAliveMessage()} {
		if err := s.send(m); err != nil {
			return nil, err
		}
	}
	for {
		t, body, err := readMsg(c)
		if err != nil {
			return nil, err
		}
		switch t {
		case bgp.BGP_MSG_KEEPALIVE:
			// Established. Tell the peer our (empty) table is complete,
			// as any speaker does, keep the session alive and drain it.
			if err := s.send(bgp.NewEndOfRib(family)); err != nil {
				return nil, err
			}
			go s.keepalive()
			go s.drain()
			return s, nil
		case bgp.BGP_MSG_NOTIFICATION:
			return nil, fmt.Errorf("NOTIFICATION % x", body)
		}
	}
}

// readMsg reads one BGP message: its type and body.
func readMsg(r io.Reader) (uint8, []byte, error) {
	var h [bgp.BGP_HEADER_LENGTH]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(h[16:18]))
	if n < bgp.BGP_HEADER_LENGTH {
		return 0, nil, fmt.Errorf("bad message length %d", n)
	}
	body := make([]byte, n-bgp.BGP_HEADER_LENGTH)
	_, err := io.ReadFull(r, body)
	return h[18], body, err
}

func (s *wireSession) send(m *bgp.BGPMessage) error {
	b, err := m.Serialize()
	if err != nil {
		return err
	}
	return s.write(b)
}

func (s *wireSession) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.conn.Write(b)
	return err
}

// keepalive sends a KEEPALIVE every second (well inside any hold time)
// until the connection fails.
func (s *wireSession) keepalive() {
	b, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	for range time.Tick(time.Second) {
		if err := s.write(b); err != nil {
			return
		}
	}
}

// drain reads and drops what the peer sends (its routes, keepalives); a
// NOTIFICATION or a closed connection ends the session.
func (s *wireSession) drain() {
	for {
		t, body, err := readMsg(s.conn)
		if err == nil && t == bgp.BGP_MSG_NOTIFICATION {
			err = fmt.Errorf("NOTIFICATION % x", body)
		}
		if err != nil {
			s.err <- fmt.Errorf("session with %s: %w", s.peer, err)
			return
		}
	}
}

// failed returns the session's error, if it ended.
func (s *wireSession) failed() error {
	select {
	case err := <-s.err:
		s.err <- err
		return err
	default:
		return nil
	}
}

// writeAll writes each session's chunks to it, all sessions at once
// (released together), and returns when every one is written.
func writeAll(sessions []*wireSession, chunks [][][]byte) error {
	start := make(chan struct{})
	errs := make([]error, len(sessions))
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, c := range chunks[i] {
				if err := s.write(c); err != nil {
					errs[i] = fmt.Errorf("write to %s: %w", s.peer, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

// chunk packs serialized messages into writes of about 64 KiB, cut at
// message boundaries so a keepalive never lands inside an UPDATE.
func chunk(msgs []*bgp.BGPMessage) ([][]byte, error) {
	var out [][]byte
	var cur []byte
	for _, m := range msgs {
		b, err := m.Serialize()
		if err != nil {
			return nil, err
		}
		if len(b) > bgp.BGP_MAX_MESSAGE_LENGTH {
			return nil, fmt.Errorf("UPDATE of %d bytes: too many NLRIs per message", len(b))
		}
		if len(cur)+len(b) > 64<<10 {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, b...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}
