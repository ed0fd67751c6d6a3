package netlinkdp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// Batched entry writes. Apply sends one netlink request and waits for its
// ACK before the next: at 100,000 FDB entries that is 200,000 system calls
// (and, in the netlink library, a 64 KiB receive buffer cleared for each
// ACK). ApplyBatch sends the FDB and neighbour sets and deletes of a pass
// several messages per sendmsg and then collects their ACKs, as zebra's
// data plane does. The kernel handles the messages of one sendmsg in
// order, each on its own (a failed one is ACKed with its error and the
// next ones still run), so a batch means what the same ops applied one by
// one mean. Everything else (devices, routes, flood entries, NAT) and
// every entry op whose device is not known yet goes through Apply, in its
// place in the order.

// batchMax is how many messages one sendmsg carries: about 100 bytes
// each; their answers (the last one's ACK and any errors, 36 bytes each
// with NETLINK_CAP_ACK) fit the receive buffer many times over.
const batchMax = 128

var _ overlay.Batcher = (*Dataplane)(nil)

// batchMsg is one message of a batch: for op (its index in the
// ApplyBatch call), its bytes, and whether ENOENT means done (a delete).
type batchMsg struct {
	op       int
	data     []byte
	absentOK bool
	errno    unix.Errno
	acked    bool
}

// ApplyBatch implements overlay.Batcher.
func (d *Dataplane) ApplyBatch(ctx context.Context, ops []overlay.Op) []error {
	errs := make([]error, len(ops))
	sock, err := d.batchSocket()
	if err != nil {
		d.log.Warn("batched netlink writes unavailable: one request at a time", "err", err)
		for i, op := range ops {
			errs[i] = d.Apply(ctx, op)
		}
		return errs
	}
	// The messages of the batch being built, their bytes in one buffer
	// (batchMax messages of at most ~70 bytes, with room for the last
	// op's): nothing allocated per op.
	pend := batchBufs.Get().(*batchBuf)
	defer func() {
		pend.msgs, pend.arena = pend.msgs[:0], pend.arena[:0]
		batchBufs.Put(pend)
	}()
	// Each batched op's links, as an index into links (0: applied one by
	// one): nearly all ops of a pass are of one network, and a linkRef
	// per op was 28 KB per call.
	refs := make([]int32, len(ops))
	links := []linkRef{{}}
	flush := func() {
		pending := pend.msgs
		if len(pending) == 0 {
			return
		}
		if err := sock.exchange(pending); err != nil {
			for _, m := range pending {
				errs[m.op] = err
			}
		}
		for _, m := range pending {
			if errs[m.op] == nil && m.errno != 0 && !(m.absentOK && m.errno == unix.ENOENT) {
				errs[m.op] = m.errno
			}
		}
		pend.msgs, pend.arena = pend.msgs[:0], pend.arena[:0]
	}
	// Each op's echo is noted before its message goes (its events may
	// come before the ACK), all of a batch's under one lock.
	noteFlush := func() {
		d.noteEchoes(ops, pend.msgs)
		flush()
	}
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		ref, ok := d.entryMessages(pend, i, op)
		if !ok {
			noteFlush() // what went before goes first
			errs[i] = d.Apply(ctx, op)
			continue
		}
		if ref != links[len(links)-1] {
			links = append(links, ref)
		}
		refs[i] = int32(len(links) - 1)
		if len(pend.msgs) >= batchMax {
			noteFlush()
		}
	}
	noteFlush()
	// The pods are told of the deleted neighbours once per bridge, with
	// all the batch's addresses: announce reads the bridge's ports from
	// the kernel each time, a dump of every link, which per neighbour made
	// removing 10,000 remote endpoints 10,000 dumps.
	var (
		gone    map[linkRef][]netip.Addr
		goneRef []linkRef // in order of first appearance
	)
	for i, op := range ops {
		if refs[i] == 0 {
			continue // applied one by one
		}
		ref := links[refs[i]]
		switch err := errs[i]; {
		case errors.Is(err, unix.ENODEV):
			// The link cache was stale (a device re-created behind our
			// back): Apply looks the device up again and retries.
			errs[i] = d.Apply(ctx, op)
		case err != nil:
			errs[i] = entryError(op, ref, err)
		case op.Neigh != nil && op.Kind == overlay.OpDel && ref.proxyARP:
			if gone == nil {
				gone = map[linkRef][]netip.Addr{}
			}
			if _, ok := gone[ref]; !ok {
				goneRef = append(goneRef, ref)
			}
			gone[ref] = append(gone[ref], op.Neigh.IP)
		}
	}
	for _, ref := range goneRef {
		d.announce(ref, gone[ref]...)
	}
	return errs
}

// batchBuf is the batch being built: its messages, their bytes in arena.
type batchBuf struct {
	msgs  []batchMsg
	arena []byte
}

// batchBufs keeps the buffers of batches between ApplyBatch calls: a pass
// of 100,000 entries is 200 calls.
var batchBufs = sync.Pool{New: func() any {
	return &batchBuf{msgs: make([]batchMsg, 0, batchMax+2), arena: make([]byte, 0, (batchMax+2)*neighMessageMax)}
}}

// add appends the message of op (its index) to the batch.
func (b *batchBuf) add(op int, typ, flags int, n *netlink.Neigh, absentOK bool) {
	start := len(b.arena)
	b.arena = appendNeighMessage(b.arena, typ, flags, n)
	end := len(b.arena)
	// capped: an append to the arena never writes into it
	b.msgs = append(b.msgs, batchMsg{op: op, data: b.arena[start:end:end], absentOK: absentOK})
}

// entryMessages adds the netlink messages of an FDB or neighbour op (the
// i-th), as setFDB, delFDB, setNeigh and delNeigh send them, to b and
// returns the device's links; ok is false, and nothing added, for any
// other op, and for one whose device is not known or incomplete (Apply
// then says why, or that it is done). The addresses are passed in arrays
// of the stack: encoding them as the library's slices allocated each.
func (d *Dataplane) entryMessages(b *batchBuf, i int, op overlay.Op) (ref linkRef, ok bool) {
	var vni uint32
	switch {
	case op.FDB != nil:
		vni = op.FDB.VNI
	case op.Neigh != nil:
		vni = op.Neigh.VNI
	default:
		return ref, false
	}
	d.mu.Lock()
	ref, ok = d.links[vni]
	d.mu.Unlock()
	if !ok || ref.bridge == 0 {
		return ref, false
	}
	var ipBuf [16]byte
	var mac overlay.MAC
	set := op.Kind == overlay.OpSet
	switch {
	case op.FDB != nil && set:
		f := op.FDB
		if ref.vxlan == 0 || f.MAC.IsZero() || !f.VTEP.IsValid() {
			return ref, false
		}
		mac = f.MAC
		b.add(i, unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, &netlink.Neigh{
			Family: unix.AF_BRIDGE, LinkIndex: ref.vxlan, State: netlink.NUD_REACHABLE,
			Flags: netlink.NTF_SELF | netlink.NTF_MASTER | netlink.NTF_EXT_LEARNED,
			IP:    ipBytes(f.VTEP, &ipBuf), HardwareAddr: mac[:], MasterIndex: ref.bridge,
		}, false)
	case op.FDB != nil:
		if ref.vxlan == 0 {
			return ref, false
		}
		wildcard := netip.IPv4Unspecified()
		if op.FDB.VTEP.Is6() {
			wildcard = netip.IPv6Unspecified()
		}
		mac = op.FDB.MAC
		// Two messages, as delFDB sends them (see there why).
		n := netlink.Neigh{Family: unix.AF_BRIDGE, LinkIndex: ref.vxlan, Flags: netlink.NTF_SELF,
			IP: ipBytes(wildcard, &ipBuf), HardwareAddr: mac[:]}
		b.add(i, unix.RTM_DELNEIGH, 0, &n, true)
		n.Flags = netlink.NTF_MASTER
		b.add(i, unix.RTM_DELNEIGH, 0, &n, true)
	case set:
		n := op.Neigh
		mac = n.MAC
		b.add(i, unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, &netlink.Neigh{
			Family: family(*n), LinkIndex: ref.bridge, State: netlink.NUD_NOARP, Flags: netlink.NTF_EXT_LEARNED,
			IP: ipBytes(n.IP, &ipBuf), HardwareAddr: mac[:],
		}, false)
	default:
		n := op.Neigh
		b.add(i, unix.RTM_DELNEIGH, 0, &netlink.Neigh{
			Family: family(*n), LinkIndex: ref.bridge, IP: ipBytes(n.IP, &ipBuf),
		}, true)
	}
	return ref, true
}

// entryError words a batched op's error as Apply's would be.
func entryError(op overlay.Op, ref linkRef, err error) error {
	switch {
	case op.FDB != nil && op.Kind == overlay.OpSet:
		return fmt.Errorf("add fdb %s dst %s dev %s: %w", op.FDB.MAC, op.FDB.VTEP, ref.vxlanName, err)
	case op.FDB != nil:
		return fmt.Errorf("del fdb %s dev %s: %w", op.FDB.MAC, ref.vxlanName, err)
	case op.Kind == overlay.OpSet:
		return fmt.Errorf("add neigh %s lladdr %s dev %s: %w", op.Neigh.IP, op.Neigh.MAC, ref.bridgeName, err)
	default:
		return fmt.Errorf("del neigh %s dev %s: %w", op.Neigh.IP, ref.bridgeName, err)
	}
}

// batchSock is the socket of batched writes: blocking, with timeouts,
// ACKs without the request echoed back.
type batchSock struct {
	mu   sync.Mutex
	s    *nl.NetlinkSocket // kept: its finalizer would close fd
	fd   int
	seq  uint32
	send []byte
	recv []byte
}

// batchSocket opens the batch socket in our namespace on first use.
func (d *Dataplane) batchSocket() (*batchSock, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.batch != nil {
		return d.batch, nil
	}
	s, err := nl.GetNetlinkSocketAt(d.ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	fd := s.GetFd()
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	for _, err := range []error{
		unix.SetNonblock(fd, false),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
		unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1),
	} {
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("netlink socket options: %w", err)
		}
	}
	d.batch = &batchSock{s: s, fd: fd, recv: make([]byte, 1<<16)}
	return d.batch, nil
}

func (b *batchSock) close() { b.s.Close() }

// exchange sends msgs in one sendmsg, numbered from a fresh sequence
// number, and records each one's outcome (errno 0: done) in it. An error
// means the exchange itself failed: which messages took effect is unknown
// (the reconciler re-reads the kernel after a failed pass).
//
// Only the last message asks for an ACK. The kernel answers a request
// without NLM_F_ACK only if it failed (netlink_rcv_skb: "if (flags &
// NLM_F_ACK || err) netlink_ack"), and it runs the messages of one
// sendmsg in order before sendmsg returns, so every error of the batch is
// queued, numbered by its message's sequence number, before the last
// message's ACK: a message with no answer by then succeeded. Each ACK is a
// datagram of its own, one recvfrom each: asking for all of them cost
// 100,000 system calls (and as many kernel allocations) per 100,000 FDB
// entries.
func (b *batchSock) exchange(msgs []batchMsg) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	first := b.seq + 1
	b.send = b.send[:0]
	for i := range msgs {
		b.seq++
		m := msgs[i].data
		binary.NativeEndian.PutUint32(m[8:12], b.seq) // nlmsghdr.nlmsg_seq
		flags := binary.NativeEndian.Uint16(m[6:8]) &^ unix.NLM_F_ACK
		if i == len(msgs)-1 {
			flags |= unix.NLM_F_ACK
		}
		binary.NativeEndian.PutUint16(m[6:8], flags)
		b.send = append(b.send, m...)
	}
	if err := unix.Sendto(b.fd, b.send, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink batch of %d: send: %w", len(msgs), err)
	}
	for last := &msgs[len(msgs)-1]; !last.acked; {
		n, _, err := unix.Recvfrom(b.fd, b.recv, 0)
		if err != nil {
			return fmt.Errorf("netlink batch of %d: ack missing: %w", len(msgs), err)
		}
		for p := b.recv[:n]; len(p) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(p[0:4]))
			if l < unix.NLMSG_HDRLEN || l > len(p) {
				break
			}
			typ := binary.NativeEndian.Uint16(p[4:6])
			seq := binary.NativeEndian.Uint32(p[8:12])
			i := int(seq - first)
			if typ == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 && i >= 0 && i < len(msgs) && !msgs[i].acked {
				msgs[i].acked = true
				msgs[i].errno = unix.Errno(-int32(binary.NativeEndian.Uint32(p[16:20])))
			}
			p = p[min(len(p), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		}
	}
	return nil
}
