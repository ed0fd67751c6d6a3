package netlinkdp

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"

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
// were lost), then ch is closed. It reads many datagrams a system call
// (mmsgReader) and has the kernel drop what Watch never needs
// (neighFilter).
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
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, neighFilter()); err != nil {
		unix.Close(fd)
		return fmt.Errorf("netlink socket filter: %w", err)
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

// mmsgReader reads up to mmsgCount datagrams a system call (recvmmsg),
// each into a buffer of its own: every neighbour notification is a
// datagram of its own, and a pass of 100,000 FDB entries brings as many,
// which one recvfrom each paid for in system calls.
type mmsgReader struct {
	bufs  []byte
	iov   []unix.Iovec
	names []unix.RawSockaddrNetlink
	hdrs  []unix.Mmsghdr
}

const (
	mmsgCount = 64
	mmsgSize  = 8 << 10 // a neighbour notification is a few hundred bytes
)

func newMmsgReader() *mmsgReader {
	r := &mmsgReader{
		bufs:  make([]byte, mmsgCount*mmsgSize),
		iov:   make([]unix.Iovec, mmsgCount),
		names: make([]unix.RawSockaddrNetlink, mmsgCount),
		hdrs:  make([]unix.Mmsghdr, mmsgCount),
	}
	for i := range r.hdrs {
		r.iov[i].Base = &r.bufs[i*mmsgSize]
		r.iov[i].SetLen(mmsgSize)
		r.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.hdrs[i].Hdr.Iov = &r.iov[i]
		r.hdrs[i].Hdr.SetIovlen(1)
	}
	return r
}

// read receives what is queued, up to mmsgCount datagrams, without
// blocking (EAGAIN: nothing).
func (r *mmsgReader) read(fd uintptr) (int, error) {
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrNetlink
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)),
		unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// message returns the i-th datagram of the last read and whether the
// kernel sent it; a truncated one is an error (Watch then resubscribes and
// kicks: the event is lost, the state is re-read).
func (r *mmsgReader) message(i int) ([]byte, bool, error) {
	h := &r.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, false, fmt.Errorf("netlink datagram larger than %d bytes", mmsgSize)
	}
	kernel := h.Hdr.Namelen >= unix.SizeofSockaddrNetlink && r.names[i].Family == unix.AF_NETLINK && r.names[i].Pid == nl.PidKernel
	return r.bufs[i*mmsgSize : i*mmsgSize+int(h.Len)], kernel, nil
}

// neighFilter is the socket filter of the neighbour subscription: it drops,
// in the kernel, the bridge's half of every FDB entry's RTM_NEWNEIGH (an
// AF_BRIDGE message without NTF_SELF) and passes everything else. An FDB
// entry of ours is two kernel entries, the vxlan device's (NTF_SELF, with
// the remote) and the bridge's (pointing at the vxlan port), each
// reported when set: a pass that installs 100,000 remote MACs brought
// 200,000 events, each a datagram of its own, a recvfrom and a hand-off
// to Watch, only to be found our own echo. The bridge's half adds nothing
// an event must kick for: its delete (RTM_DELNEIGH) still comes through; an
// add or change of it that leaves it on our vxlan port changes nothing
// Observe reads, unless it is a bridge-only entry someone else adds with
// extern_learn, which now waits for the periodic resync; one that moves
// it to another port is reported on that port, not ours, and never kicked.
// The bridge's entries learned from traffic (no NTF_SELF, not
// extern_learn) were never ours either.
func neighFilter() *unix.SockFprog {
	// cBPF loads are big-endian; nlmsg_type is in host order.
	var typ [2]byte
	binary.NativeEndian.PutUint16(typ[:], unix.RTM_NEWNEIGH)
	const (
		offType   = 4                      // nlmsghdr.nlmsg_type
		offFamily = unix.NLMSG_HDRLEN      // ndmsg.ndm_family
		offFlags  = unix.NLMSG_HDRLEN + 10 // ndmsg.ndm_flags
		accept    = 0xffffffff             // the whole message
	)
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: offType},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(binary.BigEndian.Uint16(typ[:])), Jt: 0, Jf: 4},
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: offFamily},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.AF_BRIDGE, Jt: 0, Jf: 2},
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: offFlags},
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: unix.NTF_SELF, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: accept},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0}, // drop
	}
	return &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
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
		neigh, ok := neighOf(data)
		if !ok {
			return fmt.Errorf("netlink neighbour message of %d bytes", len(data))
		}
		select {
		case ch <- netlink.NeighUpdate{Type: typ, Neigh: neigh}:
		case <-done:
			return nil
		}
	}
	return nil
}

// neighOf reads the fields of a neighbour message that Watch looks at
// (neighKick) as netlink.NeighDeserialize fills them, its addresses copied
// out of b in one allocation: the library's parse allocates a list of
// attributes and more for each of the hundreds of thousands of events a
// burst of routes brings. Family, LinkIndex, State, Flags, Type; IP
// (NDA_DST); HardwareAddr (NDA_LLADDR, or LLIPAddr when it is 4 bytes: an
// IPv4 tunnel's); MasterIndex (NDA_MASTER).
func neighOf(b []byte) (netlink.Neigh, bool) {
	const ndmsgLen = 12
	if len(b) < ndmsgLen {
		return netlink.Neigh{}, false
	}
	ne := nl.NativeEndian()
	n := netlink.Neigh{Family: int(b[0]), LinkIndex: int(int32(ne.Uint32(b[4:8]))), State: int(ne.Uint16(b[8:10])),
		Flags: int(b[10]), Type: int(b[11])}
	var dst, ll []byte
	for a := b[ndmsgLen:]; len(a) >= unix.SizeofRtAttr; {
		l := int(ne.Uint16(a[0:2]))
		if l < unix.SizeofRtAttr || l > len(a) {
			return netlink.Neigh{}, false
		}
		v := a[unix.SizeofRtAttr:l]
		switch ne.Uint16(a[2:4]) &^ unix.NLA_F_NESTED {
		case unix.NDA_DST:
			dst = v
		case unix.NDA_LLADDR:
			ll = v
		case unix.NDA_MASTER:
			if len(v) == 4 {
				n.MasterIndex = int(ne.Uint32(v))
			}
		}
		a = a[min(len(a), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
	if len(dst)+len(ll) > 0 {
		c := append(append(make([]byte, 0, len(dst)+len(ll)), dst...), ll...)
		if len(dst) > 0 {
			n.IP = net.IP(c[:len(dst):len(dst)])
		}
		switch {
		case len(ll) == 4:
			n.LLIPAddr = net.IP(c[len(dst):])
		case len(ll) > 0:
			n.HardwareAddr = net.HardwareAddr(c[len(dst):])
		}
	}
	return n, true
}
