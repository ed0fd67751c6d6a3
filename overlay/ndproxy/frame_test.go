package ndproxy

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

var (
	podMAC = net.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	gwMAC  = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x01}
)

// nsFrame builds a Neighbor Solicitation as a pod sends it: to the
// target's solicited-node group, with a source link-layer option unless
// src is unspecified.
func nsFrame(src, target netip.Addr, withLL bool) []byte {
	t := target.As16()
	dst := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	msg := make([]byte, ndMsgLen)
	msg[0] = icmp6NS
	copy(msg[8:], t[:])
	if withLL {
		msg = append(msg, ndOptSourceLL, 1)
		msg = append(msg, podMAC...)
	}
	binary.BigEndian.PutUint16(msg[2:], icmp6Checksum(src, dst, msg))
	b := []byte{0x33, 0x33, 0xff, t[13], t[14], t[15]}
	b = append(b, podMAC...)
	b = append(b, 0x86, 0xdd)
	ip := make([]byte, ipv6HeaderLen)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(msg)))
	ip[6], ip[7] = 58, 255
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	return append(append(b, ip...), msg...)
}

func TestParseNS(t *testing.T) {
	src, target := netip.MustParseAddr("fd00:10:244:1::2"), netip.MustParseAddr("fd00:10:244:2::3")
	ns, ok := parseNS(nsFrame(src, target, true))
	if !ok {
		t.Fatal("parseNS rejected a valid solicitation")
	}
	if ns.Src != src || ns.Target != target || !bytes.Equal(ns.SrcLL, podMAC) || !bytes.Equal(ns.EthSrc, podMAC) ||
		ns.Dst != netip.MustParseAddr("ff02::1:ff00:3") {
		t.Errorf("parseNS = %+v", ns)
	}
	if ns, ok := parseNS(nsFrame(src, target, false)); !ok || ns.SrcLL != nil {
		t.Errorf("without option: parseNS = %+v, %v", ns, ok)
	}

	bad := map[string]func([]byte){
		"hop limit 64":   func(b []byte) { b[14+7] = 64 },
		"bad checksum":   func(b []byte) { b[len(b)-1] ^= 1 },
		"code 1":         func(b []byte) { b[14+40+1] = 1 },
		"NA":             func(b []byte) { b[14+40] = icmp6NA },
		"IPv4":           func(b []byte) { b[12], b[13] = 0x08, 0x00 },
		"UDP":            func(b []byte) { b[14+6] = 17 },
		"zero option":    func(b []byte) { b[len(b)-7] = 0 },
		"payload beyond": func(b []byte) { binary.BigEndian.PutUint16(b[14+4:], 200) },
	}
	for name, edit := range bad {
		b := nsFrame(src, target, true)
		edit(b)
		if ns, ok := parseNS(b); ok {
			t.Errorf("%s: parseNS accepted %+v", name, ns)
		}
	}
	if _, ok := parseNS(nsFrame(src, target, true)[:60]); ok {
		t.Error("parseNS accepted a truncated frame")
	}
	// DAD: unspecified source with a source link-layer option is invalid.
	if _, ok := parseNS(nsFrame(netip.IPv6Unspecified(), target, true)); ok {
		t.Error("parseNS accepted a DAD probe with a source link-layer option")
	}
	if _, ok := parseNS(nsFrame(netip.IPv6Unspecified(), target, false)); !ok {
		t.Error("parseNS rejected a DAD probe")
	}
}

func TestBuildNA(t *testing.T) {
	gw, pod, target := netip.MustParseAddr("fd00:10:244::1"), netip.MustParseAddr("fd00:10:244:1::2"), netip.MustParseAddr("fd00:10:244:2::3")
	b := buildNA(gwMAC, podMAC, gw, pod, target)
	if len(b) != 14+40+32 {
		t.Fatalf("len = %d", len(b))
	}
	if !bytes.Equal(b[0:6], podMAC) || !bytes.Equal(b[6:12], gwMAC) || binary.BigEndian.Uint16(b[12:]) != 0x86dd {
		t.Errorf("ethernet header % x", b[:14])
	}
	ip := b[14:]
	if ip[0] != 0x60 || binary.BigEndian.Uint16(ip[4:]) != 32 || ip[6] != 58 || ip[7] != 255 {
		t.Errorf("ipv6 header % x", ip[:8])
	}
	if netip.AddrFrom16([16]byte(ip[8:24])) != gw || netip.AddrFrom16([16]byte(ip[24:40])) != pod {
		t.Errorf("addresses % x", ip[8:40])
	}
	msg := ip[40:]
	if msg[0] != icmp6NA || msg[1] != 0 || msg[4] != 0xe0 || msg[5] != 0 || msg[6] != 0 || msg[7] != 0 {
		t.Errorf("type/code/flags % x", msg[:8])
	}
	if netip.AddrFrom16([16]byte(msg[8:24])) != target {
		t.Errorf("target % x", msg[8:24])
	}
	if msg[24] != ndOptTargetLL || msg[25] != 1 || !bytes.Equal(msg[26:32], gwMAC) {
		t.Errorf("target link-layer option % x", msg[24:])
	}
	if c := icmp6Checksum(gw, pod, msg); c != 0 {
		t.Errorf("checksum does not verify: %#04x", c)
	}
}

func TestAnswers(t *testing.T) {
	b := Bridge{
		Name:    "vxbr100",
		Gateway: netip.MustParsePrefix("fd00:10:244::1/48"),
		Block:   netip.MustParsePrefix("fd00:10:244:1::/64"),
	}
	pod := netip.MustParseAddr("fd00:10:244:1::2")
	for _, tc := range []struct {
		name   string
		src    netip.Addr
		target string
		want   bool
	}{
		{"remote pod", pod, "fd00:10:244:2::3", true},
		{"local block", pod, "fd00:10:244:1::3", false},
		{"gateway", pod, "fd00:10:244::1", false},
		{"outside subnet", pod, "fd00:99::3", false},
		{"DAD probe", netip.IPv6Unspecified(), "fd00:10:244:2::3", false},
	} {
		ns := solicit{Src: tc.src, Target: netip.MustParseAddr(tc.target)}
		if got := answers(b, ns); got != tc.want {
			t.Errorf("%s: answers = %v, want %v", tc.name, got, tc.want)
		}
	}
	if answers(Bridge{}, solicit{Src: pod, Target: netip.MustParseAddr("fd00:10:244:2::3")}) {
		t.Error("a bridge without IPv6 gateway answers")
	}
}
