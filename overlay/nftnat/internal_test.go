package nftnat

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// TestUnavailable: the errors of a kernel without nf_tables wrap
// ErrUnavailable (and keep their errno); others do not.
func TestUnavailable(t *testing.T) {
	for _, e := range []error{unix.EPROTONOSUPPORT, unix.EAFNOSUPPORT, unix.EOPNOTSUPP} {
		err := unavailable(fmt.Errorf("dial: %w", e))
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, e) {
			t.Errorf("%v: got %v", e, err)
		}
	}
	if errors.Is(unavailable(unix.EPERM), ErrUnavailable) {
		t.Error("EPERM taken for a missing nf_tables")
	}
}

// TestEncodeDecode: decode reads back what encode writes, for every
// prefix length of both families.
func TestEncodeDecode(t *testing.T) {
	for bits := 1; bits <= 128; bits++ {
		src := netip.PrefixFrom(netip.MustParseAddr("fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), bits).Masked()
		m := overlay.Masquerade{Src: src, Except: []netip.Prefix{src, netip.MustParsePrefix("fd00::/8")}}
		if bits <= 32 {
			src4 := netip.PrefixFrom(netip.MustParseAddr("10.255.255.255"), bits).Masked()
			m = overlay.Masquerade{Src: src4, Except: []netip.Prefix{src4}}
		}
		ex, err := encode(m)
		if err != nil {
			t.Fatalf("/%d: %v", bits, err)
		}
		got, ok := decode(ex)
		if !ok || !got.Equal(m) {
			t.Fatalf("/%d: decoded %v (ok %v), want %v", bits, got, ok, m)
		}
		if _, ok := decode(ex[:len(ex)-1]); ok {
			t.Fatalf("/%d: a rule without masquerade decoded", bits)
		}
	}
}
