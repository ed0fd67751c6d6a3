package nftnat

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// family is where an address family's addresses sit in its network
// header.
type family struct {
	nfproto      byte
	saddr, daddr uint32 // offsets
	addrLen      uint32
	is6          bool
}

var (
	ipv4 = family{nfproto: unix.NFPROTO_IPV4, saddr: 12, daddr: 16, addrLen: 4}
	ipv6 = family{nfproto: unix.NFPROTO_IPV6, saddr: 8, daddr: 24, addrLen: 16, is6: true}
)

func familyOf(p netip.Prefix) family {
	if p.Addr().Is6() {
		return ipv6
	}
	return ipv4
}

// encode turns one rule into nftables expressions, as nft compiles
//
//	ip saddr SRC ip daddr != EXCEPT... counter masquerade fully-random
//
// in an inet table: the family check first (meta nfproto), then per
// prefix a load of the address into register 1, the prefix mask, a
// compare. The mask is there for every length, /32 included, so that
// decode knows one shape.
func encode(m overlay.Masquerade) ([]expr.Any, error) {
	if !m.Src.IsValid() || m.Src.Addr().Is4In6() {
		return nil, fmt.Errorf("nat rule for network %q: invalid source prefix %s", m.Network, m.Src)
	}
	f := familyOf(m.Src)
	ex := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.nfproto}},
	}
	ex = append(ex, match(f, f.saddr, m.Src, expr.CmpOpEq)...)
	for _, p := range m.Except {
		if !p.IsValid() || p.Addr().Is6() != f.is6 || p.Addr().Is4In6() {
			return nil, fmt.Errorf("nat rule for network %q: exception %s is not of the family of %s", m.Network, p, m.Src)
		}
		ex = append(ex, match(f, f.daddr, p, expr.CmpOpNeq)...)
	}
	return append(ex, &expr.Counter{}, &expr.Masq{FullyRandom: true}), nil
}

// match is "ADDR [!=] PREFIX": load, mask, compare.
func match(f family, off uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	p = p.Masked()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: f.addrLen},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: f.addrLen, Mask: mask(f, p.Bits()), Xor: make([]byte, f.addrLen)},
		&expr.Cmp{Op: op, Register: 1, Data: p.Addr().AsSlice()},
	}
}

func mask(f family, bits int) []byte {
	m := make([]byte, f.addrLen)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

// decode is encode's inverse; ok is false for anything encode does not
// make.
func decode(ex []expr.Any) (m overlay.Masquerade, ok bool) {
	if len(ex) < 2+3+2 {
		return m, false
	}
	meta, ok1 := ex[0].(*expr.Meta)
	cmp, ok2 := ex[1].(*expr.Cmp)
	if !ok1 || !ok2 || meta.Key != expr.MetaKeyNFPROTO || meta.SourceRegister || meta.Register != 1 ||
		cmp.Op != expr.CmpOpEq || cmp.Register != 1 || len(cmp.Data) != 1 {
		return m, false
	}
	var f family
	switch cmp.Data[0] {
	case ipv4.nfproto:
		f = ipv4
	case ipv6.nfproto:
		f = ipv6
	default:
		return m, false
	}
	rest := ex[2:]
	src, ok := unmatch(f, f.saddr, expr.CmpOpEq, rest)
	if !ok {
		return m, false
	}
	m.Src, rest = src, rest[3:]
	for len(rest) > 2 {
		p, ok := unmatch(f, f.daddr, expr.CmpOpNeq, rest)
		if !ok {
			return m, false
		}
		m.Except, rest = append(m.Except, p), rest[3:]
	}
	if len(rest) != 2 {
		return m, false
	}
	if _, ok := rest[0].(*expr.Counter); !ok {
		return m, false
	}
	masq, ok := rest[1].(*expr.Masq)
	if !ok || *masq != (expr.Masq{FullyRandom: true}) {
		return m, false
	}
	return m, true
}

// unmatch reads match's three expressions at the start of ex.
func unmatch(f family, off uint32, op expr.CmpOp, ex []expr.Any) (netip.Prefix, bool) {
	if len(ex) < 3 {
		return netip.Prefix{}, false
	}
	pl, ok1 := ex[0].(*expr.Payload)
	bw, ok2 := ex[1].(*expr.Bitwise)
	cmp, ok3 := ex[2].(*expr.Cmp)
	if !ok1 || !ok2 || !ok3 {
		return netip.Prefix{}, false
	}
	if pl.OperationType != expr.PayloadLoad || pl.DestRegister != 1 || pl.Base != expr.PayloadBaseNetworkHeader ||
		pl.Offset != off || pl.Len != f.addrLen {
		return netip.Prefix{}, false
	}
	if bw.SourceRegister != 1 || bw.DestRegister != 1 || bw.Len != f.addrLen || len(bw.Mask) != int(f.addrLen) ||
		!bytes.Equal(bw.Xor, make([]byte, f.addrLen)) {
		return netip.Prefix{}, false
	}
	if cmp.Op != op || cmp.Register != 1 || len(cmp.Data) != int(f.addrLen) {
		return netip.Prefix{}, false
	}
	addr, _ := netip.AddrFromSlice(cmp.Data)
	bits := 0
	for _, b := range bw.Mask {
		bits += leadingOnes(b)
	}
	p := netip.PrefixFrom(addr, bits)
	if !bytes.Equal(mask(f, bits), bw.Mask) || p.Masked() != p {
		return netip.Prefix{}, false
	}
	return p, true
}

func leadingOnes(b byte) int {
	n := 0
	for ; n < 8 && b&(0x80>>n) != 0; n++ {
	}
	return n
}
