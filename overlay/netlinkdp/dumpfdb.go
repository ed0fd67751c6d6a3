package netlinkdp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// fdbEntry is what observeFDB reads of one AF_BRIDGE neighbour message
// (bridge fdb show): the fields of netlink.Neigh it uses.
type fdbEntry struct {
	ifindex int
	flags   uint8 // ndm_flags: NTF_SELF, NTF_MASTER, NTF_EXT_LEARNED
	mac     [6]byte
	hasMAC  bool       // NDA_LLADDR of 6 bytes
	ip      netip.Addr // NDA_DST (the vxlan entry's remote), unmapped
	master  int        // NDA_MASTER
}

// dumpFDB streams the AF_BRIDGE neighbour table to f, one message at a
// time, read from the receive buffer in place. NeighList copies every
// message and builds a netlink.Neigh of each before returning them all:
// with 100,000 remote MACs (two entries each) that is some 60 MB of
// garbage per Observe, which a reconciler re-reading the kernel during a
// burst of routes pays again and again. An interrupted dump (the table
// changed under it) is retried from the start, as dump does: begin is
// called before each attempt, to drop what the previous one delivered.
func (d *Dataplane) dumpFDB(begin func(), f func(fdbEntry)) error {
	var err error
	for range dumpAttempts {
		begin()
		if err = d.dumpFDBOnce(f); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("dump fdb: %w", err)
	}
	return nil
}

func (d *Dataplane) dumpFDBOnce(f func(fdbEntry)) error {
	s, err := nl.GetNetlinkSocketAt(d.ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer s.Close()
	if err := s.SetReceiveTimeout(&nl.SocketTimeoutTv); err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
	req.AddData(&netlink.Ndmsg{Family: unix.AF_BRIDGE})
	return req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH, func(msg []byte) bool {
		if e, ok := parseFDBEntry(msg); ok {
			f(e)
		}
		return true
	})
}

// parseFDBEntry reads one RTM_NEWNEIGH payload: struct ndmsg (family,
// pad, pad, ifindex, state, flags, type; 12 bytes), then route attributes.
func parseFDBEntry(b []byte) (fdbEntry, bool) {
	const ndmsgLen = 12
	if len(b) < ndmsgLen || b[0] != unix.AF_BRIDGE {
		return fdbEntry{}, false
	}
	ne := nl.NativeEndian()
	e := fdbEntry{ifindex: int(int32(ne.Uint32(b[4:8]))), flags: b[10]}
	for a := b[ndmsgLen:]; len(a) >= unix.SizeofRtAttr; {
		l := int(ne.Uint16(a[0:2]))
		if l < unix.SizeofRtAttr || l > len(a) {
			break
		}
		v := a[unix.SizeofRtAttr:l]
		switch ne.Uint16(a[2:4]) &^ unix.NLA_F_NESTED {
		case unix.NDA_LLADDR:
			if len(v) == 6 {
				e.mac, e.hasMAC = [6]byte(v), true
			}
		case unix.NDA_DST:
			if ip, ok := netip.AddrFromSlice(v); ok {
				e.ip = ip.Unmap()
			}
		case unix.NDA_MASTER:
			if len(v) == 4 {
				e.master = int(ne.Uint32(v))
			}
		}
		a = a[min(len(a), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
	return e, true
}
