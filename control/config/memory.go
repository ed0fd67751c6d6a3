package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is memoryLimit's default: the Go runtime's soft
// memory limit (runtime/debug.SetMemoryLimit). Below it the garbage
// collector paces itself by GOGC as usual; near it, it collects more often
// instead of letting the heap double, so a host taking in a full table
// (100,000 type-2 routes) peaks near the limit rather than at twice its
// live heap. It is soft: a live heap above it is not an error, the
// collector then runs often (at most about half the CPU, Go's cap) and
// the process grows past it.
const DefaultMemoryLimit = "256MiB"

// memoryUnits are the suffixes GOMEMLIMIT takes, which memoryLimit takes
// too: one syntax for both ways of setting the limit.
var memoryUnits = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// ParseMemoryLimit parses memoryLimit in GOMEMLIMIT's syntax: a number of
// bytes with an optional unit B, KiB, MiB, GiB or TiB (e.g. 256MiB), or
// off (no limit, math.MaxInt64, which is what SetMemoryLimit takes for
// none). The error is the problem alone, for Validate to name the key.
func ParseMemoryLimit(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	num, mult := s, int64(1)
	for _, u := range memoryUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil || n < 0:
		return 0, fmt.Errorf("must be a size like 256MiB (units B, KiB, MiB, GiB, TiB, as GOMEMLIMIT) or off, got %q", s)
	case n > math.MaxInt64/mult:
		return 0, fmt.Errorf("%q is too large", s)
	case n*mult < MinMemoryLimit:
		// A limit below what an idle agent uses makes the collector run
		// without pause for nothing.
		return 0, fmt.Errorf("must be at least 64MiB (or off), got %q", s)
	}
	return n * mult, nil
}

// MinMemoryLimit is the smallest memoryLimit accepted: an idle agent
// with a few peers already uses about half of it.
const MinMemoryLimit = 64 << 20
