package ipam

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantErr fails t unless err contains want, or is nil when want is "";
// it reports whether the call succeeded (and the test goes on).
func wantErr(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatal(err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
	return err == nil
}

// allocOne allocates from one block and returns the one address.
func allocOne(s *Store, network string, block netip.Prefix, reserved []netip.Addr, owner Owner) (netip.Addr, error) {
	ips, err := s.Allocate(network, []netip.Prefix{block}, reserved, owner)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) != 1 {
		return netip.Addr{}, fmt.Errorf("allocate from one block: got %v", ips)
	}
	return ips[0], nil
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}
