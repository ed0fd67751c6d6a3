package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ndProxy answers, in routed mode, the IPv6 neighbour solicitations pods
// send on a bridge for addresses of their subnet6 that live on other hosts:
// the IPv6 counterpart of the bridge's proxy ARP. Linux's proxy_ndp answers
// only the addresses listed one by one (ip -6 neigh add proxy ADDR), so the
// agent answers itself: for a target inside the bridge's subnet6, outside
// this host's block6 and not the gateway (the kernel answers that one), it
// sends the soliciting pod a Neighbor Advertisement with the bridge's MAC
// (the anycast gateway MAC), and the pod's traffic to that address is
// routed by the host.
//
// Overlay mode needs none of this: the EVPN neighbour entries and
// neigh_suppress make the bridge answer.
//
// It reads from one AF_PACKET socket for IPv6 with a filter that passes
// only ICMPv6 Neighbor Solicitations, on every interface of the agent's
// namespace (the bridges may come later), and keeps those received on a
// bridge it serves. A packet socket of protocol ETH_P_IPV6 sees a frame a
// pod sends on the bridge (not on the pod's port, whose bridge rx handler
// takes the frame before protocol taps), multicast and unicast NS alike.
type ndProxy struct {
	nets map[string]ndNet // by bridge name
	log  *slog.Logger

	mu    sync.Mutex
	links map[int]ndLink // by ifindex: bridges served and other links
}

// ndNet is one routed bridge with an IPv6 gateway.
type ndNet struct {
	Subnet6, Block6 netip.Prefix
	Gateway6        netip.Addr
}

// ndLink is what the proxy knows of an interface: whether it is a bridge
// it serves, and then the bridge's name and MAC.
type ndLink struct {
	bridge string // "" for a link the proxy does not serve
	mac    net.HardwareAddr
}

// maxNDLinks bounds the interface cache; it starts over when full.
const maxNDLinks = 4096

func newNDProxy(nets map[string]ndNet, log *slog.Logger) *ndProxy {
	return &ndProxy{nets: nets, log: log, links: map[int]ndLink{}}
}

// nsFilter passes IPv6 ICMPv6 Neighbor Solicitations (no extension header,
// as RFC 4861 senders send them) and drops every other frame.
var nsFilter = []unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12},                    // ethertype
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 5, K: 0x86dd}, // IPv6?
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 14 + 6},                // next header
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.IPPROTO_ICMPV6},
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 14 + 40}, // ICMPv6 type
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: icmp6NS},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},
}

// Run answers solicitations until ctx ends.
func (p *ndProxy) Run(ctx context.Context) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IPV6)))
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(nsFilter)), Filter: &nsFilter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return fmt.Errorf("attach neighbour solicitation filter: %w", err)
	}
	// Frames that arrived before the filter may be anything: they are
	// parsed like the rest, and dropped by the parser.
	f := os.NewFile(uintptr(fd), "nd-proxy")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() }) // wakes the read below
	defer stop()
	p.log.Info("answering IPv6 neighbour solicitations for remote pods", "bridges", len(p.nets))

	buf := make([]byte, 2048)
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = rerr
		}
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENETDOWN) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		p.handle(rc, ll.Ifindex, buf[:n])
	}
}

// handle answers one received frame if it is a solicitation to answer.
func (p *ndProxy) handle(rc interface {
	Write(func(uintptr) bool) error
}, ifindex int, frame []byte) {
	ns, ok := parseNS(frame)
	if !ok {
		return
	}
	link := p.link(ifindex)
	if link.bridge == "" {
		return
	}
	if !answers(p.nets[link.bridge], ns) {
		return
	}
	dst := ns.SrcLL
	if dst == nil {
		dst = ns.EthSrc
	}
	na := buildNA(link.mac, dst, p.nets[link.bridge].Gateway6, ns.Src, ns.Target)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: ifindex, Halen: 6}
	copy(to.Addr[:], dst)
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), na, 0, to)
		return !errors.Is(serr, unix.EAGAIN)
	}); err != nil {
		serr = err
	}
	if serr != nil {
		p.log.Warn("neighbour advertisement failed", "dev", link.bridge, "target", ns.Target, "to", ns.Src, "err", serr)
		return
	}
	p.log.Debug("answered neighbour solicitation", "dev", link.bridge, "target", ns.Target, "to", ns.Src)
}

// answers reports whether the proxy answers ns on a bridge of network n:
// a target of the subnet on another host, asked by a pod (not by a node
// checking its own address, whose source is unspecified).
func answers(n ndNet, ns ndSolicit) bool {
	return n.Subnet6.IsValid() && ns.Src.IsValid() && !ns.Src.IsUnspecified() &&
		n.Subnet6.Contains(ns.Target) && !n.Block6.Contains(ns.Target) && ns.Target != n.Gateway6
}

// link returns what the proxy knows of ifindex, asking the kernel once.
func (p *ndProxy) link(ifindex int) ndLink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.links[ifindex]; ok {
		return l
	}
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return ndLink{} // gone already; asked again next time
	}
	var out ndLink
	if _, ok := p.nets[l.Attrs().Name]; ok && len(l.Attrs().HardwareAddr) == 6 {
		out = ndLink{bridge: l.Attrs().Name, mac: l.Attrs().HardwareAddr}
	}
	if len(p.links) >= maxNDLinks {
		clear(p.links)
	}
	p.links[ifindex] = out
	return out
}

// ICMPv6 types and Neighbor Discovery option types (RFC 4861).
const (
	icmp6NS        = 135
	icmp6NA        = 136
	ndOptSourceLL  = 1
	ndOptTargetLL  = 2
	ethHeaderLen   = 14
	ipv6HeaderLen  = 40
	ndMsgLen       = 24 // type, code, checksum, flags/reserved, target
	ndHopLimit     = 255
	naFlagRouter   = 0x80
	naFlagSolicted = 0x40
	naFlagOverride = 0x20
)

// ndSolicit is a parsed Neighbor Solicitation.
type ndSolicit struct {
	EthSrc   net.HardwareAddr
	Src, Dst netip.Addr
	Target   netip.Addr
	SrcLL    net.HardwareAddr // the source link-layer address option, if any
}

// parseNS parses an Ethernet frame holding an ICMPv6 Neighbor Solicitation
// and checks it as RFC 4861 7.1.1 asks: hop limit 255, code 0, a valid
// checksum, a target that is not multicast, options of non-zero length, and
// no source link-layer option when the source is unspecified.
func parseNS(frame []byte) (ndSolicit, bool) {
	if len(frame) < ethHeaderLen+ipv6HeaderLen+ndMsgLen || binary.BigEndian.Uint16(frame[12:]) != unix.ETH_P_IPV6 {
		return ndSolicit{}, false
	}
	ip := frame[ethHeaderLen:]
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if ip[0]>>4 != 6 || ip[6] != unix.IPPROTO_ICMPV6 || ip[7] != ndHopLimit || plen < ndMsgLen || ipv6HeaderLen+plen > len(ip) {
		return ndSolicit{}, false
	}
	msg := ip[ipv6HeaderLen : ipv6HeaderLen+plen]
	if msg[0] != icmp6NS || msg[1] != 0 {
		return ndSolicit{}, false
	}
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	if icmp6Checksum(src, dst, msg) != 0 {
		return ndSolicit{}, false
	}
	ns := ndSolicit{
		EthSrc: net.HardwareAddr(append([]byte(nil), frame[6:12]...)),
		Src:    src, Dst: dst,
		Target: netip.AddrFrom16([16]byte(msg[8:24])),
	}
	if ns.Target.IsMulticast() {
		return ndSolicit{}, false
	}
	for opts := msg[ndMsgLen:]; len(opts) > 0; {
		if len(opts) < 8 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return ndSolicit{}, false
		}
		l := int(opts[1]) * 8
		if opts[0] == ndOptSourceLL && l == 8 {
			ns.SrcLL = net.HardwareAddr(append([]byte(nil), opts[2:8]...))
		}
		opts = opts[l:]
	}
	if src.IsUnspecified() && ns.SrcLL != nil {
		return ndSolicit{}, false
	}
	return ns, true
}

// buildNA builds the Ethernet frame of a solicited Neighbor Advertisement
// for target, from srcMAC and srcIP to dstMAC and dstIP: router, solicited
// and override flags set, hop limit 255, and a target link-layer address
// option of srcMAC. Override: in routed mode the gateway MAC is the only
// path to a remote pod, so the answer replaces whatever the pod cached
// (the pod's real MAC, learnt over VXLAN before a switch from overlay
// mode).
func buildNA(srcMAC, dstMAC net.HardwareAddr, srcIP, dstIP, target netip.Addr) []byte {
	const plen = ndMsgLen + 8
	b := make([]byte, ethHeaderLen+ipv6HeaderLen+plen)
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IPV6)
	ip := b[ethHeaderLen:]
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:], plen)
	ip[6] = unix.IPPROTO_ICMPV6
	ip[7] = ndHopLimit
	s, d := srcIP.As16(), dstIP.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	msg := ip[ipv6HeaderLen:]
	msg[0] = icmp6NA
	msg[4] = naFlagRouter | naFlagSolicted | naFlagOverride
	t := target.As16()
	copy(msg[8:24], t[:])
	msg[24], msg[25] = ndOptTargetLL, 1
	copy(msg[26:32], srcMAC)
	binary.BigEndian.PutUint16(msg[2:], icmp6Checksum(srcIP, dstIP, msg))
	return b
}

// icmp6Checksum is the ICMPv6 checksum of msg (RFC 4443 2.3, over the
// IPv6 pseudo-header): 0 for a message whose checksum field is right, the
// value to store for one whose checksum field is zero.
func icmp6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[0:], uint32(len(msg)))
	tail[7] = unix.IPPROTO_ICMPV6
	add(tail[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// htons converts v to network byte order, as socket calls take it.
func htons(v uint16) uint16 { return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v)) }

// ipv6Forwarding is the sysctl that lets the host route IPv6 between its
// bridges and the underlay.
const ipv6Forwarding = "/proc/sys/net/ipv6/conf/all/forwarding"

// enableIPv6Forwarding turns IPv6 forwarding on unless it is on already,
// and reports whether it wrote. Like ip_forward it stays on at exit: it is
// the host's.
//
//	sysctl -w net.ipv6.conf.all.forwarding=1
func enableIPv6Forwarding() (bool, error) {
	if b, err := os.ReadFile(ipv6Forwarding); err == nil && len(b) > 0 && b[0] == '1' {
		return false, nil
	}
	if err := os.WriteFile(ipv6Forwarding, []byte("1"), 0o644); err != nil {
		return false, fmt.Errorf("write sysctl net.ipv6.conf.all.forwarding=1: %w", err)
	}
	return true, nil
}
