package config

import (
	"slices"
	"testing"
)

// TestNATOutgoing: natOutgoing is true unless set to false, so unset,
// null and true differ from false only; anything but a boolean is an
// error naming the key.
func TestNATOutgoing(t *testing.T) {
	const head = "bgp: {asn: 65000}\nnetworks:\n"
	const net = "  - {name: a, vni: 1, subnet: 10.0.0.0/8, gateway: 10.0.0.1, block: 10.0.0.0/24"
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{net + "}\n", true},
		{net + ", natOutgoing: null}\n", true},
		{net + ", natOutgoing: true}\n", true},
		{net + ", natOutgoing: false}\n", false},
	} {
		c, err := Parse([]byte(head + tc.in))
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := c.Networks[0].NATOn(); got != tc.want {
			t.Errorf("%q: NATOn %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, v := range []string{`"no"`, "1", "[true]", `"false"`} {
		_, err := Parse([]byte(head + net + ", natOutgoing: " + v + "}\n"))
		want := []string{`networks[0].natOutgoing: must be true or false, got ` + quoteOf(v)}
		if v == "[true]" {
			want = []string{"networks[0].natOutgoing: must be true or false, got a list"}
		}
		if got := messages(err); !slices.Equal(got, want) {
			t.Errorf("natOutgoing: %s: got %q, want %q", v, got, want)
		}
	}
}

func quoteOf(v string) string {
	if v[0] == '"' {
		return v
	}
	return `"` + v + `"`
}
