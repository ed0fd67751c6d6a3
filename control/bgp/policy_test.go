package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestImportSets(t *testing.T) {
	p := netip.MustParsePrefix
	sets := importSets(
		[]netip.Prefix{p("10.244.0.0/16"), p("fd00:10:244::/48"), p("10.244.0.0/16"), p("10.96.1.1/16")},
		[]netip.Prefix{p("0.0.0.0/0"), p("::/0"), p("10.244.5.0/24")},
	)
	var got []string
	for _, ds := range sets {
		for _, e := range ds.Prefixes {
			got = append(got, fmt.Sprintf("%s %s %d..%d", ds.Name, e.IpPrefix, e.MaskLengthMin, e.MaskLengthMax))
		}
	}
	want := []string{
		"import-ipv4 10.244.0.0/16 16..32",
		"import-ipv4 10.96.0.0/16 16..32",
		"import-ipv6 fd00:10:244::/48 48..128",
		"import-ipv4-exact 0.0.0.0/0 0..0",
		"import-ipv4-exact 10.244.5.0/24 24..24",
		"import-ipv6-exact ::/0 0..0",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sets:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(importSets(nil, nil)) != 0 {
		t.Fatal("empty sets built")
	}
}
