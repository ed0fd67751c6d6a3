package netlinkdp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The bytes of a batched entry write (ApplyBatch): one neighbour message,
// built without the netlink library's allocations.

// ipBytes is a.AsSlice() as the encoder reads it (which takes the 4 bytes
// of an IPv4 or IPv4-mapped address), in buf.
func ipBytes(a netip.Addr, buf *[16]byte) net.IP {
	if !a.IsValid() {
		return nil
	}
	*buf = a.As16()
	return buf[:]
}

// neighMessageMax is the most bytes appendNeighMessage appends: header,
// ndmsg, an IPv6 NDA_DST, NDA_LLADDR, NDA_MASTER.
const neighMessageMax = unix.NLMSG_HDRLEN + 12 + (unix.SizeofRtAttr + 16) + (unix.SizeofRtAttr + 8) + (unix.SizeofRtAttr + 4)

// neighMessage serialises one RTM_NEWNEIGH or RTM_DELNEIGH request with
// NLM_F_ACK, byte for byte as the netlink library's NeighSet and NeighDel
// build it (neighsub_internal_test.go compares them). Its sequence number
// is exchange's to set.
func neighMessage(typ int, flags int, n *netlink.Neigh) []byte {
	return appendNeighMessage(nil, typ, flags, n)
}

// appendNeighMessage appends neighMessage's bytes to dst: a pass of
// 100,000 FDB entries builds as many messages, into one buffer per batch.
func appendNeighMessage(dst []byte, typ int, flags int, n *netlink.Neigh) []byte {
	ip := n.IP.To4()
	if ip == nil {
		ip = n.IP.To16()
	}
	attr := func(l int) int { return (unix.SizeofRtAttr + l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }
	const ndmsgLen = 12
	size := unix.NLMSG_HDRLEN + ndmsgLen + attr(len(ip))
	if n.HardwareAddr != nil {
		size += attr(len(n.HardwareAddr))
	}
	if n.MasterIndex != 0 {
		size += attr(4)
	}
	dst = slices.Grow(dst, size)
	b := dst[len(dst) : len(dst)+size]
	clear(b)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:4], uint32(size))
	ne.PutUint16(b[4:6], uint16(typ))
	ne.PutUint16(b[6:8], uint16(flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK))
	// nlmsg_seq and nlmsg_pid stay 0
	m := b[unix.NLMSG_HDRLEN:]
	m[0] = uint8(n.Family) // ndm_family, 3 bytes of padding
	ne.PutUint32(m[4:8], uint32(n.LinkIndex))
	ne.PutUint16(m[8:10], uint16(n.State))
	m[10] = uint8(n.Flags) // ndm_flags; ndm_type 0
	m = m[ndmsgLen:]
	put := func(typ uint16, v []byte) {
		ne.PutUint16(m[0:2], uint16(unix.SizeofRtAttr+len(v)))
		ne.PutUint16(m[2:4], typ)
		copy(m[unix.SizeofRtAttr:], v)
		m = m[attr(len(v)):]
	}
	put(unix.NDA_DST, ip)
	if n.HardwareAddr != nil {
		put(unix.NDA_LLADDR, n.HardwareAddr)
	}
	if n.MasterIndex != 0 {
		var v [4]byte
		ne.PutUint32(v[:], uint32(n.MasterIndex))
		put(unix.NDA_MASTER, v[:])
	}
	return dst[:len(dst)+size]
}
