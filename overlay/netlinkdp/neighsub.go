package netlinkdp

import (
	"encoding/binary"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/nlsub"
)

// subscribeNeigh subscribes to the neighbour and FDB notifications of our
// namespace (nlsub.Neigh), with the kernel dropping what Watch never needs
// (neighFilter).
func (d *Dataplane) subscribeNeigh(ch chan<- netlink.NeighUpdate, done <-chan struct{}, onErr func(error), rcvbuf int) error {
	open := func() (int, error) { return nlsub.SocketIn(d.ns) }
	return nlsub.Neigh(open, rcvbuf, neighFilter(), ch, done, onErr)
}

// neighFilter is the socket filter of the neighbour subscription: it drops,
// in the kernel, two kinds of RTM_NEWNEIGH and passes everything else.
//
// The bridge's half of every FDB entry (an AF_BRIDGE message without
// NTF_SELF). An FDB entry of ours is two kernel entries, the vxlan
// device's (NTF_SELF, with the remote) and the bridge's (pointing at the
// vxlan port), each reported when set: a pass that installs 100,000 remote
// MACs brought 200,000 events, each a datagram of its own, a recvfrom and
// a hand-off to Watch, only to be found our own echo. The bridge's half
// adds nothing an event must kick for: its delete (RTM_DELNEIGH) still
// comes through; an add or change of it that leaves it on our vxlan port
// changes nothing Observe reads, unless it is a bridge-only entry someone
// else adds with extern_learn, which now waits for the periodic resync;
// one that moves it to another port is reported on that port, not ours,
// and never kicked. The bridge's entries learned from traffic (no
// NTF_SELF, not extern_learn) were never ours either.
//
// The vxlan half of an entry as we write it: NTF_SELF and NTF_EXT_LEARNED,
// state NUD_REACHABLE (setFDB). Those were the other 100,000 events of
// such a pass, each decoded, handed to Watch and looked up among the
// echoes that Apply noted for it, about a tenth of the agent's CPU taking
// in a table. Only a set looks like that: a delete is RTM_DELNEIGH, and a
// foreign add or change of an extern_learn entry on our device kicks as
// before when its state differs (`bridge fdb add ... self extern_learn` is
// permanent). One that looks exactly like ours (another EVPN daemon
// writing our device, or an operator copying our entry with `dynamic` and
// another remote) now waits for the periodic resync, as a foreign change
// made within echoTTL of ours to the same entry always did. So FDB sets
// need no echo (echoKey).
func neighFilter() *unix.SockFprog {
	// cBPF loads are big-endian; nlmsg_type and ndm_state are in host
	// order.
	hostU16 := func(v uint16) uint32 {
		var b [2]byte
		binary.NativeEndian.PutUint16(b[:], v)
		return uint32(binary.BigEndian.Uint16(b[:]))
	}
	const (
		offType   = 4                      // nlmsghdr.nlmsg_type
		offFamily = unix.NLMSG_HDRLEN      // ndmsg.ndm_family
		offState  = unix.NLMSG_HDRLEN + 8  // ndmsg.ndm_state
		offFlags  = unix.NLMSG_HDRLEN + 10 // ndmsg.ndm_flags
		accept    = 0xffffffff             // the whole message
		ours      = unix.NTF_SELF | unix.NTF_EXT_LEARNED
	)
	// Jt and Jf count the instructions to skip.
	prog := []unix.SockFilter{
		/* 0 */ {Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: offType},
		/* 1 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: hostU16(unix.RTM_NEWNEIGH), Jt: 0, Jf: 8}, // else 10
		/* 2 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: offFamily},
		/* 3 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.AF_BRIDGE, Jt: 0, Jf: 6}, // else 10
		/* 4 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: offFlags},
		/* 5 */ {Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: unix.NTF_SELF, Jt: 0, Jf: 5}, // the bridge's half: 11
		/* 6 */ {Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: ours},
		/* 7 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: ours, Jt: 0, Jf: 2}, // else 10
		/* 8 */ {Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: offState},
		/* 9 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: hostU16(unix.NUD_REACHABLE), Jt: 1, Jf: 0}, // ours: 11
		/* 10 */ {Code: unix.BPF_RET | unix.BPF_K, K: accept},
		/* 11 */ {Code: unix.BPF_RET | unix.BPF_K, K: 0}, // drop
	}
	return &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
}
