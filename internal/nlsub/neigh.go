// Package nlsub subscribes to the kernel's neighbour and FDB notifications
// without the netlink library's cost per event, for the agent's watch of
// its own entries (overlay/netlinkdp) and the lab's timestamping watches
// (internal/lab), both of which see hundreds of thousands of events when
// a table of routes comes in at once.
package nlsub

import (
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/netnsdo"
)

// Neigh is netlink.NeighSubscribeWithOptions (no listing of the existing
// entries) without its cost per event. The kernel sends every neighbour
// and FDB notification as a datagram of its own, and the library's
// receive allocates a 64 KiB buffer for each datagram: a pass that
// installs 100,000 remote MACs (two FDB entries each) made 13 GB of
// garbage in the agent, whose collection was most of its CPU. Here one
// buffer is reused and each message is copied out. Like the library:
// updates go to ch until done is closed or the socket fails (onErr gets
// the error, ENOBUFS when events were lost), then ch is closed. It reads
// many datagrams a system call (mmsgReader) and, with a filter, has the
// kernel drop what the caller never needs.
//
// open returns a new NETLINK_ROUTE socket, non-blocking, in the namespace
// to watch; rcvbuf is its receive buffer (set with force where allowed).
func Neigh(open func() (int, error), rcvbuf int, filter *unix.SockFprog, ch chan<- netlink.NeighUpdate, done <-chan struct{}, onErr func(error)) error {
	fd, err := open()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			unix.Close(fd)
			return fmt.Errorf("netlink socket receive buffer: %w", err)
		}
	}
	if filter != nil {
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, filter); err != nil {
			unix.Close(fd)
			return fmt.Errorf("netlink socket filter: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.RTNLGRP_NEIGH - 1)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("netlink bind: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink neighbour events") // non-blocking: reads park in the poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fmt.Errorf("netlink socket: %w", err)
	}
	go func() {
		<-done
		f.Close() // wakes the read below
	}()
	go func() {
		defer close(ch)
		r := newMmsgReader()
		for {
			var (
				n    int
				rerr error
			)
			err := rc.Read(func(fd uintptr) bool {
				n, rerr = r.read(fd)
				return rerr != unix.EAGAIN
			})
			if err == nil {
				err = rerr
			}
			if err != nil {
				onErr(err)
				return
			}
			for i := range n {
				b, kernel, err := r.message(i)
				if err == nil && kernel {
					err = sendNeighUpdates(b, ch, done)
				}
				if err != nil {
					onErr(err)
					return
				}
			}
		}
	}()
	return nil
}

// Socket opens a non-blocking NETLINK_ROUTE socket in the calling
// thread's namespace, for open.
func Socket() (int, error) {
	return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
}

// SocketIn is Socket in namespace ns (the calling thread's if ns is not
// open), for open.
func SocketIn(ns netns.NsHandle) (fd int, err error) {
	if !ns.IsOpen() {
		return Socket()
	}
	err = netnsdo.Do(ns, func() error {
		fd, err = Socket()
		return err
	})
	return fd, err
}
