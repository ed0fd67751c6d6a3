package evpn

// The received routes' compact form: the store holds 100,000 of them on a
// host of a 1,000-node fleet, so a route is fixed-size values (MAC,
// netip.Addr) and handles to interned text (RDs, peers, route-target
// sets: a few per originating host, shared by all its routes), with no
// string, slice or map of its own. Route, with its strings, is built back
// only to list the routes (Routes).

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"unique"

	"github.com/vxbgp/vxbgp/overlay"
)

// rxKey is a received route's destination, what its GoBGP text key
// (Route.Key) says in fixed-size fields: the route type, RD, MAC (type-2)
// and IP as sent (the type-2's, invalid for a MAC-only route; the
// type-3's originator). odd is set only for a key these do not capture (a
// non-zero Ethernet tag, text spelled unlike GoBGP's): the whole key,
// interned, alone, so that such a route still has a key of its own.
type rxKey struct {
	rd   unique.Handle[string]
	odd  unique.Handle[string]
	ip   netip.Addr
	mac  overlay.MAC
	kind RouteKind
}

// keyOf is r's store key, read from r.Key alone: a withdrawal treated as
// such for a malformed route carries nothing else (Decode), and must find
// what the route announced before.
func keyOf(r Route) rxKey {
	k, ok := parseKey(r.Key)
	var buf [160]byte
	if !ok || string(k.appendText(buf[:0])) != r.Key {
		return rxKey{odd: unique.Make(r.Key), kind: r.Kind}
	}
	return k
}

// parseKey reads the fields of a type-2 or type-3 key as appendText
// writes it.
func parseKey(s string) (k rxKey, ok bool) {
	field := func(name string) (string, bool) { // "[name:value]" at the head of s
		if len(s) < len(name)+2 || s[0] != '[' || s[1:1+len(name)] != name || s[1+len(name)] != ':' {
			return "", false
		}
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", false
		}
		v := s[len(name)+2 : end]
		s = s[end+1:]
		return v, true
	}
	s, ok = strings.CutPrefix(s, familyKey)
	if !ok {
		return k, false
	}
	typ, ok1 := field("type")
	rd, ok2 := field("rd")
	// An RD "a.b:c" holds a colon: field cut it at the first ']', right.
	etag, ok3 := field("etag")
	if !ok1 || !ok2 || !ok3 || etag != "0" {
		return k, false
	}
	k.rd = unique.Make(rd)
	switch typ {
	case "macadv":
		k.kind = RouteType2
		mac, ok1 := field("mac")
		ip, ok2 := field("ip")
		if !ok1 || !ok2 || len(mac) != 17 {
			return k, false
		}
		for i := range k.mac {
			hi, lo := unhex(mac[3*i]), unhex(mac[3*i+1])
			if hi < 0 || lo < 0 || (i < 5 && mac[3*i+2] != ':') {
				return k, false
			}
			k.mac[i] = byte(hi<<4 | lo)
		}
		if ip != "<nil>" {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return k, false
			}
			k.ip = a
		}
	case "multicast":
		k.kind = RouteType3
		ip, ok := field("ip")
		a, err := netip.ParseAddr(ip)
		if !ok || err != nil {
			return k, false
		}
		k.ip = a
	default:
		return k, false
	}
	return k, s == ""
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}

// text is k's Route.Key.
func (k rxKey) text() string {
	if k.odd != (unique.Handle[string]{}) {
		return k.odd.Value()
	}
	return string(k.appendText(nil))
}

// appendText appends the key Decode gives a route of k's fields, with
// Ethernet tag 0: GoBGP's NLRI text (translate_decode.go's decodeNLRI).
func (k rxKey) appendText(b []byte) []byte {
	b = append(b, familyKey...)
	switch k.kind {
	case RouteType2:
		b = append(b, "[type:macadv][rd:"...)
		b = append(b, k.rd.Value()...)
		b = append(b, "][etag:0][mac:"...)
		for i, x := range k.mac {
			if i > 0 {
				b = append(b, ':')
			}
			b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
		}
		b = append(b, "][ip:"...)
		if k.ip.IsValid() {
			b = k.ip.AppendTo(b)
		} else {
			b = append(b, "<nil>"...)
		}
	case RouteType3:
		b = append(b, "[type:multicast][rd:"...)
		b = append(b, k.rd.Value()...)
		b = append(b, "][etag:0][ip:"...)
		b = k.ip.AppendTo(b)
	default:
		b = append(b, "[type:"...)
		b = strconv.AppendUint(b, uint64(k.kind), 10)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// vniSet is a set of VNIs, interned: the routes of one network share one.
// The zero vniSet is the empty set.
type vniSet struct{ h unique.Handle[string] }

func makeVNISet(vnis []uint32) vniSet {
	if len(vnis) == 0 {
		return vniSet{}
	}
	var buf [32]byte
	b := buf[:0]
	for _, v := range vnis {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return vniSet{unique.Make(string(b))}
}

func (s vniSet) len() int {
	if s == (vniSet{}) {
		return 0
	}
	return len(s.h.Value()) / 4
}

// at is the i-th VNI, in the order given to makeVNISet.
func (s vniSet) at(i int) uint32 {
	v := s.h.Value()[4*i:]
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
}

func (s vniSet) slice() []uint32 {
	n := s.len()
	if n == 0 {
		return nil
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = s.at(i)
	}
	return out
}

// handle is an interned string; "" is the zero handle.
func handle(s string) unique.Handle[string] {
	if s == "" {
		return unique.Handle[string]{}
	}
	return unique.Make(s)
}

func handleValue(h unique.Handle[string]) string {
	if h == (unique.Handle[string]{}) {
		return ""
	}
	return h.Value()
}
