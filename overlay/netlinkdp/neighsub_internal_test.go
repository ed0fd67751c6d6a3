package netlinkdp

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/nlsub"
	"github.com/vxbgp/vxbgp/overlay"
)

// neighMessageLib is neighMessage as the netlink library builds it.
func neighMessageLib(typ int, flags int, n *netlink.Neigh) []byte {
	req := nl.NewNetlinkRequest(typ, flags|unix.NLM_F_ACK)
	req.AddData(&netlink.Ndmsg{Family: uint8(n.Family), Index: uint32(n.LinkIndex), State: uint16(n.State), Flags: uint8(n.Flags)})
	ip := n.IP.To4()
	if ip == nil {
		ip = n.IP.To16()
	}
	req.AddData(nl.NewRtAttr(netlink.NDA_DST, ip))
	if n.HardwareAddr != nil {
		req.AddData(nl.NewRtAttr(netlink.NDA_LLADDR, []byte(n.HardwareAddr)))
	}
	if n.MasterIndex != 0 {
		req.AddData(nl.NewRtAttr(netlink.NDA_MASTER, nl.Uint32Attr(uint32(n.MasterIndex))))
	}
	b := req.Serialize()
	copy(b[8:12], []byte{0, 0, 0, 0}) // the sequence number is exchange's
	return b
}

var testNeighs = []netlink.Neigh{
	{Family: unix.AF_BRIDGE, LinkIndex: 7, State: netlink.NUD_REACHABLE, Flags: netlink.NTF_SELF | netlink.NTF_MASTER | netlink.NTF_EXT_LEARNED,
		IP: net.ParseIP("192.0.2.2"), HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 1, 2}, MasterIndex: 5},
	{Family: unix.AF_BRIDGE, LinkIndex: 7, Flags: netlink.NTF_SELF, IP: net.ParseIP("2001:db8::2"), HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 1, 3}},
	{Family: unix.AF_INET, LinkIndex: 5, State: netlink.NUD_NOARP, Flags: netlink.NTF_EXT_LEARNED,
		IP: net.ParseIP("10.244.2.1").To4(), HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 2, 1}},
	{Family: unix.AF_INET6, LinkIndex: 5, IP: net.ParseIP("fd00::1")},
	{Family: unix.AF_BRIDGE, LinkIndex: 7},
}

// neighMessage writes the bytes the library would; nlsub.NeighOf and
// parseFDBEntry read back what NeighDeserialize reads.
func TestNeighMessages(t *testing.T) {
	for i, n := range testNeighs {
		for _, typ := range []int{unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH} {
			got, want := neighMessage(typ, unix.NLM_F_CREATE, &n), neighMessageLib(typ, unix.NLM_F_CREATE, &n)
			if !bytes.Equal(got, want) {
				t.Fatalf("neigh %d type %d:\n got %x\nwant %x", i, typ, got, want)
			}
			payload := got[unix.NLMSG_HDRLEN:]
			lib, err := netlink.NeighDeserialize(payload)
			if err != nil {
				t.Fatal(err)
			}
			ours, ok := nlsub.NeighOf(payload)
			if !ok {
				t.Fatalf("neigh %d: NeighOf refused it", i)
			}
			if lib.IP == nil && ours.IP != nil || lib.IP != nil && !lib.IP.Equal(ours.IP) ||
				!bytes.Equal(lib.HardwareAddr, ours.HardwareAddr) {
				t.Errorf("neigh %d: addresses %v %v, library %v %v", i, ours.IP, ours.HardwareAddr, lib.IP, lib.HardwareAddr)
			}
			lib.IP, lib.HardwareAddr, ours.IP, ours.HardwareAddr = nil, nil, nil, nil
			if !reflect.DeepEqual(*lib, ours) {
				t.Errorf("neigh %d:\n got %+v\nwant %+v", i, ours, *lib)
			}
			if n.Family == unix.AF_BRIDGE {
				e, ok := parseFDBEntry(payload)
				if !ok || e.ifindex != n.LinkIndex || int(e.flags) != n.Flags || e.master != n.MasterIndex ||
					e.hasMAC != (len(n.HardwareAddr) == 6) || (e.hasMAC && !bytes.Equal(e.mac[:], n.HardwareAddr)) ||
					(n.IP != nil) != e.ip.IsValid() {
					t.Errorf("neigh %d: fdb entry %+v", i, e)
				}
			}
		}
	}
	if _, ok := nlsub.NeighOf([]byte{1, 2, 3}); ok {
		t.Error("NeighOf read a short message")
	}
}

// BenchmarkBatchMessages builds the messages of 512 FDB sets (the
// reconciler's chunk), as ApplyBatch does before sending them.
func BenchmarkBatchMessages(b *testing.B) {
	d := &Dataplane{links: map[uint32]linkRef{100: {vxlan: 7, bridge: 5}}}
	ops := make([]overlay.Op, 512)
	for i := range ops {
		ops[i] = overlay.Op{Kind: overlay.OpSet, FDB: &overlay.FDB{VNI: 100, MAC: overlay.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)},
			VTEP: netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})}}
	}
	b.ReportAllocs()
	for b.Loop() {
		pend := &batchBuf{msgs: make([]batchMsg, 0, batchMax+2), arena: make([]byte, 0, (batchMax+2)*neighMessageMax)}
		for i, op := range ops {
			if _, ok := d.entryMessages(pend, i, op); !ok {
				b.Fatal("not batched")
			}
			if len(pend.msgs) >= batchMax {
				pend.msgs, pend.arena = pend.msgs[:0], pend.arena[:0]
			}
		}
	}
}

// The socket filter drops the bridge's half of an FDB entry set and the
// vxlan half of one set as setFDB writes it, and passes every other event
// (run in x/net/bpf's interpreter, on messages as the kernel sends them).
func TestNeighFilter(t *testing.T) {
	fp := neighFilter()
	raw := unsafe.Slice(fp.Filter, fp.Len)
	prog := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		prog[i] = bpf.RawInstruction{Op: r.Code, Jt: r.Jt, Jf: r.Jf, K: r.K}.Disassemble()
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 1, 2}
	vtep := net.ParseIP("192.0.2.2").To4()
	fdb := func(state, flags int) *netlink.Neigh {
		return &netlink.Neigh{Family: unix.AF_BRIDGE, LinkIndex: 7, State: state, Flags: flags, IP: vtep, HardwareAddr: mac}
	}
	ours := fdb(netlink.NUD_REACHABLE, netlink.NTF_SELF|netlink.NTF_EXT_LEARNED)
	for _, c := range []struct {
		name string
		typ  int
		n    *netlink.Neigh
		pass bool
	}{
		{"our vxlan half set", unix.RTM_NEWNEIGH, ours, false},
		{"our vxlan half set, offloaded", unix.RTM_NEWNEIGH, fdb(netlink.NUD_REACHABLE, netlink.NTF_SELF|netlink.NTF_EXT_LEARNED|netlink.NTF_OFFLOADED), false},
		{"the bridge's half set", unix.RTM_NEWNEIGH, fdb(netlink.NUD_REACHABLE, netlink.NTF_MASTER|netlink.NTF_EXT_LEARNED), false},
		{"our vxlan half deleted", unix.RTM_DELNEIGH, ours, true},
		{"the bridge's half deleted", unix.RTM_DELNEIGH, fdb(netlink.NUD_REACHABLE, netlink.NTF_MASTER|netlink.NTF_EXT_LEARNED), true},
		{"foreign extern_learn, permanent", unix.RTM_NEWNEIGH, fdb(netlink.NUD_PERMANENT, netlink.NTF_SELF|netlink.NTF_EXT_LEARNED), true},
		{"ours replaced without extern_learn", unix.RTM_NEWNEIGH, fdb(netlink.NUD_REACHABLE, netlink.NTF_SELF), true},
		{"flood entry", unix.RTM_NEWNEIGH, fdb(netlink.NUD_NOARP|netlink.NUD_PERMANENT, netlink.NTF_SELF), true},
		{"neighbour", unix.RTM_NEWNEIGH, &testNeighs[2], true},
	} {
		msg := neighMessage(c.typ, 0, c.n)
		got, err := vm.Run(msg)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if pass := got > 0; pass != c.pass {
			t.Errorf("%s: passed %v, want %v", c.name, pass, c.pass)
		}
	}
}
