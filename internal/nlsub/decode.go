package nlsub

import (
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

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
		neigh, ok := NeighOf(data)
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

// NeighOf reads the fields of a neighbour message that the agent's and
// the lab's watches look at, as netlink.NeighDeserialize fills them, its
// addresses copied out of b in one allocation: the library's parse
// allocates a list of attributes and more for each of the hundreds of
// thousands of events a burst of routes brings. Family, LinkIndex, State, Flags, Type; IP
// (NDA_DST); HardwareAddr (NDA_LLADDR, or LLIPAddr when it is 4 bytes: an
// IPv4 tunnel's); MasterIndex (NDA_MASTER).
func NeighOf(b []byte) (netlink.Neigh, bool) {
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
