package netlinkdp

import (
	"bytes"
	"fmt"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// subscribeNeigh is netlink.NeighSubscribeWithOptions (no listing of the
// existing entries) without its cost per event. The kernel sends every
// neighbour and FDB notification as a datagram of its own, and the
// library's receive allocates a 64 KiB buffer for each datagram: a pass
// that installs 100,000 remote MACs (two FDB entries each) made 13 GB of
// garbage in the agent, whose collection was most of its CPU. Here one
// buffer is reused and each message is copied out (NeighDeserialize keeps
// slices of its input). Like the library: updates go to ch until done is
// closed or the socket fails (onErr gets the error, ENOBUFS when events
// were lost), then ch is closed.
func (d *Dataplane) subscribeNeigh(ch chan<- netlink.NeighUpdate, done <-chan struct{}, onErr func(error), rcvbuf int) error {
	var fd int
	err := d.inNS(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			unix.Close(fd)
			return fmt.Errorf("netlink socket receive buffer: %w", err)
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
		buf := make([]byte, 1<<16)
		for {
			var (
				n    int
				from unix.Sockaddr
				rerr error
			)
			err := rc.Read(func(fd uintptr) bool {
				n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
				return rerr != unix.EAGAIN
			})
			if err == nil {
				err = rerr
			}
			if err != nil {
				onErr(err)
				return
			}
			if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != nl.PidKernel {
				continue
			}
			if err := sendNeighUpdates(buf[:n], ch, done); err != nil {
				onErr(err)
				return
			}
		}
	}()
	return nil
}

// sendNeighUpdates decodes the netlink messages of one datagram into ch, as
// the library's subscription does; it returns nil early if done closes.
func sendNeighUpdates(b []byte, ch chan<- netlink.NeighUpdate, done <-chan struct{}) error {
	ne := nl.NativeEndian()
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b[0:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return fmt.Errorf("netlink message of %d bytes in %d", l, len(b))
		}
		typ := ne.Uint16(b[4:6])
		data := b[unix.NLMSG_HDRLEN:l]
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		switch typ {
		case unix.NLMSG_DONE, unix.NLMSG_NOOP:
			continue
		case unix.NLMSG_ERROR:
			if len(data) >= 4 {
				if errno := int32(ne.Uint32(data[0:4])); errno != 0 {
					return syscall.Errno(-errno)
				}
			}
			continue
		}
		neigh, err := netlink.NeighDeserialize(bytes.Clone(data)) // it keeps slices of its input
		if err != nil {
			return err
		}
		select {
		case ch <- netlink.NeighUpdate{Type: typ, Neigh: *neigh}:
		case <-done:
			return nil
		}
	}
	return nil
}
