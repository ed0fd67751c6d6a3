package ndproxy

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

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

// nsFilter passes IPv6 ICMPv6 Neighbor Solicitations (no extension header,
// as RFC 4861 senders send them) and drops every other frame.
var nsFilter = []unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12},                    // ethertype
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 5, K: 0x86dd}, // IPv6?
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: ethHeaderLen + 6},      // next header
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.IPPROTO_ICMPV6},
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: ethHeaderLen + ipv6HeaderLen}, // ICMPv6 type
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: icmp6NS},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},
}

// solicit is a parsed Neighbor Solicitation.
type solicit struct {
	EthSrc   net.HardwareAddr
	Src, Dst netip.Addr
	Target   netip.Addr
	SrcLL    net.HardwareAddr // the source link-layer address option, if any
}

// answers reports whether the responder answers ns on bridge b: a target
// of the subnet on another host, asked by a pod (not by a node checking
// its own address, whose source is unspecified).
func answers(b Bridge, ns solicit) bool {
	return b.Gateway.IsValid() && ns.Src.IsValid() && !ns.Src.IsUnspecified() &&
		b.Gateway.Masked().Contains(ns.Target) && !b.Block.Contains(ns.Target) && ns.Target != b.Gateway.Addr()
}

// parseNS parses an Ethernet frame holding an ICMPv6 Neighbor Solicitation
// and checks it as RFC 4861 7.1.1 asks: hop limit 255, code 0, a valid
// checksum, a target that is not multicast, options of non-zero length, and
// no source link-layer option when the source is unspecified.
func parseNS(frame []byte) (solicit, bool) {
	if len(frame) < ethHeaderLen+ipv6HeaderLen+ndMsgLen || binary.BigEndian.Uint16(frame[12:]) != unix.ETH_P_IPV6 {
		return solicit{}, false
	}
	ip := frame[ethHeaderLen:]
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if ip[0]>>4 != 6 || ip[6] != unix.IPPROTO_ICMPV6 || ip[7] != ndHopLimit || plen < ndMsgLen || ipv6HeaderLen+plen > len(ip) {
		return solicit{}, false
	}
	msg := ip[ipv6HeaderLen : ipv6HeaderLen+plen]
	if msg[0] != icmp6NS || msg[1] != 0 {
		return solicit{}, false
	}
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	if icmp6Checksum(src, dst, msg) != 0 {
		return solicit{}, false
	}
	ns := solicit{
		EthSrc: net.HardwareAddr(append([]byte(nil), frame[6:12]...)),
		Src:    src, Dst: dst,
		Target: netip.AddrFrom16([16]byte(msg[8:24])),
	}
	if ns.Target.IsMulticast() {
		return solicit{}, false
	}
	for opts := msg[ndMsgLen:]; len(opts) > 0; {
		if len(opts) < 8 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return solicit{}, false
		}
		l := int(opts[1]) * 8
		if opts[0] == ndOptSourceLL && l == 8 {
			ns.SrcLL = net.HardwareAddr(append([]byte(nil), opts[2:8]...))
		}
		opts = opts[l:]
	}
	if src.IsUnspecified() && ns.SrcLL != nil {
		return solicit{}, false
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
