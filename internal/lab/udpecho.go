package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// UDPEcho is a UDP server in a namespace, run by the harness itself (no
// tool needed in the namespace): it answers each datagram with the source
// address and port it saw, as text, and remembers every source, so a
// test sees what a peer sees even when no answer can get back.
type UDPEcho struct {
	Addr netip.AddrPort
	conn *net.UDPConn
	done chan struct{}

	mu   sync.Mutex
	seen []netip.AddrPort
}

// StartUDPEcho listens on addr:port in namespace ns until Close.
func StartUDPEcho(ns string, addr netip.Addr, port uint16) (*UDPEcho, error) {
	var conn *net.UDPConn
	err := inNetns(ns, func() (err error) {
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("udp echo on %s in %s: %w", addr, ns, err)
	}
	e := &UDPEcho{Addr: netip.AddrPortFrom(addr, port), conn: conn, done: make(chan struct{})}
	go e.serve()
	return e, nil
}

func (e *UDPEcho) serve() {
	defer close(e.done)
	buf := make([]byte, 1500)
	for {
		_, from, err := e.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		e.mu.Lock()
		e.seen = append(e.seen, from)
		e.mu.Unlock()
		// No route back (a pod's own address seen outside) is no error.
		_, _ = e.conn.WriteToUDPAddrPort([]byte(from.String()), from)
	}
}

// Seen returns the sources of every datagram so far.
func (e *UDPEcho) Seen() []netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]netip.AddrPort(nil), e.seen...)
}

// Close stops the server.
func (e *UDPEcho) Close() {
	e.conn.Close()
	<-e.done
}

// UDPClient is a UDP socket in a namespace, "connected" to an echo
// server: one conntrack flow for as long as it lives.
type UDPClient struct {
	Local netip.AddrPort // where its datagrams leave from
	conn  *net.UDPConn
}

// DialUDP opens a UDP socket in namespace ns towards dst.
func DialUDP(ns string, dst netip.AddrPort) (*UDPClient, error) {
	var conn *net.UDPConn
	err := inNetns(ns, func() (err error) {
		conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("udp from %s to %s: %w", ns, dst, err)
	}
	return &UDPClient{Local: conn.LocalAddr().(*net.UDPAddr).AddrPort(), conn: conn}, nil
}

// Ask sends a datagram up to tries times, each time waiting up to wait
// for the answer, and returns the source the echo server says it saw.
func (c *UDPClient) Ask(ctx context.Context, tries int, wait time.Duration) (netip.AddrPort, error) {
	buf := make([]byte, 100)
	var last error
	for range tries {
		if err := ctx.Err(); err != nil {
			return netip.AddrPort{}, err
		}
		if _, err := c.conn.Write([]byte("who am i")); err != nil {
			last = err
			time.Sleep(wait)
			continue
		}
		c.conn.SetReadDeadline(time.Now().Add(wait))
		n, err := c.conn.Read(buf)
		if err != nil {
			last = err
			continue
		}
		return netip.ParseAddrPort(string(buf[:n]))
	}
	return netip.AddrPort{}, fmt.Errorf("udp from %s to %s: no answer in %d tries: %w", c.Local, c.conn.RemoteAddr(), tries, last)
}

// Close closes the socket.
func (c *UDPClient) Close() { c.conn.Close() }
