package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Prober records when addresses first answer echo requests from many
// namespaces: one raw ICMP socket per source namespace (opened on its
// first Send), any number of destinations per socket, each destination
// told apart by its sequence number. It is what a fleet-sized reachability
// check needs where Ping (a socket, a thread switch and a 200 ms pace per
// pair) would itself take minutes: the caller decides when to send (and
// again, for a lost request), the Prober only stamps the first answer of
// each pair. IPv4 only.
type Prober struct {
	mu      sync.Mutex
	sources map[string]*probeSource
	closed  bool
}

// probeSource is one source namespace's socket and what it sent.
type probeSource struct {
	conn    *icmp.PacketConn
	ns      string
	id      int
	token   []byte
	seqOf   map[netip.Addr]uint16 // destination -> its sequence number
	dstOf   []netip.Addr          // sequence number -> destination
	first   map[netip.Addr]time.Time
	readBuf []byte
}

// NewProber returns an empty Prober; Close releases its sockets.
func NewProber() *Prober { return &Prober{sources: map[string]*probeSource{}} }

// Send sends one echo request from namespace ns to dst.
func (p *Prober) Send(ns string, dst netip.Addr) error {
	if !dst.Is4() {
		return fmt.Errorf("probe %s from %s: IPv4 only", dst, ns)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("probe: prober closed")
	}
	s := p.sources[ns]
	p.mu.Unlock()
	if s == nil {
		var err error
		if s, err = p.open(ns); err != nil {
			return err
		}
	}
	p.mu.Lock()
	seq, ok := s.seqOf[dst]
	if !ok {
		if len(s.dstOf) > 0xffff {
			p.mu.Unlock()
			return fmt.Errorf("probe %s from %s: more than 65536 destinations", dst, ns)
		}
		seq = uint16(len(s.dstOf))
		s.seqOf[dst] = seq
		s.dstOf = append(s.dstOf, dst)
	}
	p.mu.Unlock()
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: s.id, Seq: int(seq), Data: s.token}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := s.conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("send echo request to %s from %s: %w", dst, ns, err)
	}
	return nil
}

// Answered returns when dst first answered a request from ns.
func (p *Prober) Answered(ns string, dst netip.Addr) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sources[ns]
	if s == nil {
		return time.Time{}, false
	}
	t, ok := s.first[dst]
	return t, ok
}

// Forget closes ns's socket (its namespace is about to go) and drops what
// it recorded.
func (p *Prober) Forget(ns string) {
	p.mu.Lock()
	s := p.sources[ns]
	delete(p.sources, ns)
	p.mu.Unlock()
	if s != nil {
		s.conn.Close()
	}
}

// Close closes every socket; Send fails afterwards.
func (p *Prober) Close() {
	p.mu.Lock()
	p.closed = true
	srcs := p.sources
	p.sources = map[string]*probeSource{}
	p.mu.Unlock()
	for _, s := range srcs {
		s.conn.Close()
	}
}

// open opens ns's socket, as openEcho does (a raw socket made on a thread
// inside the namespace, the kernel filtering all but echo replies), and
// starts reading its answers.
func (p *Prober) open(ns string) (*probeSource, error) {
	s := &probeSource{ns: ns, seqOf: map[netip.Addr]uint16{}, first: map[netip.Addr]time.Time{}, readBuf: make([]byte, 1500)}
	var err error
	if s.conn, s.id, s.token, err = listenEcho(ns, false); err != nil {
		return nil, err
	}
	p.mu.Lock()
	if old := p.sources[ns]; old != nil || p.closed {
		// Another Send opened it meanwhile, or the prober closed.
		p.mu.Unlock()
		s.conn.Close()
		if old == nil {
			return nil, errors.New("probe: prober closed")
		}
		return old, nil
	}
	p.sources[ns] = s
	p.mu.Unlock()
	go p.receive(s)
	return s, nil
}

// receive stamps each source's answers until its socket is closed.
func (p *Prober) receive(s *probeSource) {
	for {
		n, _, err := s.conn.ReadFrom(s.readBuf)
		if err != nil {
			return
		}
		at := time.Now()
		m, err := icmp.ParseMessage(protoICMP, s.readBuf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != s.id || !bytes.Equal(e.Data, s.token) {
			continue // another socket's
		}
		p.mu.Lock()
		if e.Seq < len(s.dstOf) {
			dst := s.dstOf[e.Seq]
			if _, dup := s.first[dst]; !dup {
				s.first[dst] = at
			}
		}
		p.mu.Unlock()
	}
}
