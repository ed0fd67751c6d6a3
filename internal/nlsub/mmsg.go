package nlsub

import (
	"fmt"
	"unsafe"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

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
// kernel sent it; a truncated one is an error (the subscription ends: its
// user must take events as lost).
func (r *mmsgReader) message(i int) ([]byte, bool, error) {
	h := &r.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, false, fmt.Errorf("netlink datagram larger than %d bytes", mmsgSize)
	}
	kernel := h.Hdr.Namelen >= unix.SizeofSockaddrNetlink && r.names[i].Family == unix.AF_NETLINK && r.names[i].Pid == nl.PidKernel
	return r.bufs[i*mmsgSize : i*mmsgSize+int(h.Len)], kernel, nil
}
