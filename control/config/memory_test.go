package config

import (
	"math"
	"reflect"
	"testing"
)

// TestMemoryLimit: memoryLimit defaults to DefaultMemoryLimit, takes
// GOMEMLIMIT's syntax and off, and names itself on a bad value.
func TestMemoryLimit(t *testing.T) {
	c, err := Parse([]byte("bgp: {asn: 65000}\n"))
	if err != nil || c.MemoryLimit != DefaultMemoryLimit {
		t.Fatalf("memoryLimit = %q, %v; want the default %q", c.MemoryLimit, err, DefaultMemoryLimit)
	}
	for s, want := range map[string]int64{
		"256MiB": 256 << 20, "1GiB": 1 << 30, "67108864": 64 << 20, "65536KiB": 64 << 20,
		"67108864B": 64 << 20, "1TiB": 1 << 40, "off": math.MaxInt64,
	} {
		if n, err := ParseMemoryLimit(s); err != nil || n != want {
			t.Errorf("ParseMemoryLimit(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
	for _, tc := range []struct{ limit, want string }{
		{"256M", `memoryLimit: must be a size like 256MiB (units B, KiB, MiB, GiB, TiB, as GOMEMLIMIT) or off, got "256M"`},
		{"", `memoryLimit: must be a size like 256MiB (units B, KiB, MiB, GiB, TiB, as GOMEMLIMIT) or off, got ""`},
		{"-1MiB", `memoryLimit: must be a size like 256MiB (units B, KiB, MiB, GiB, TiB, as GOMEMLIMIT) or off, got "-1MiB"`},
		{"1.5GiB", `memoryLimit: must be a size like 256MiB (units B, KiB, MiB, GiB, TiB, as GOMEMLIMIT) or off, got "1.5GiB"`},
		{"9000000TiB", `memoryLimit: "9000000TiB" is too large`},
		{"1MiB", `memoryLimit: must be at least 64MiB (or off), got "1MiB"`},
		{"0", `memoryLimit: must be at least 64MiB (or off), got "0"`},
	} {
		c := valid()
		c.MemoryLimit = tc.limit
		if got := messages(c.Validate()); !reflect.DeepEqual(got, []string{tc.want}) {
			t.Errorf("memoryLimit %q: problems %q, want %q", tc.limit, got, tc.want)
		}
	}
}
