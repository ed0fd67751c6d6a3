package members

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{Name: "host-a", Addr: netip.MustParseAddr("fd00::1"), ASN: 4200000000, Mode: "routed",
		Blocks: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:10:244:1::/64")}}
	b := m.encode(false)
	want := `{"v":1,"name":"host-a","addr":"fd00::1","asn":4200000000,"mode":"routed","blocks":["10.244.1.0/24","fd00:10:244:1::/64"]}`
	if string(b) != want {
		t.Errorf("encode:\n got %s\nwant %s", b, want)
	}
	got, leaving, err := decodeMeta(b)
	if err != nil || leaving || !reflect.DeepEqual(got, m) {
		t.Errorf("decode = %+v, %v, %v; want %+v", got, leaving, err, m)
	}
	if _, leaving, _ := decodeMeta(m.encode(true)); !leaving {
		t.Error("leaving lost")
	}
	// A reflector says so; a host that is none says nothing (older
	// agents' metadata stays byte for byte the same).
	r := m
	r.Reflector = true
	if b := r.encode(false); !strings.HasSuffix(string(b), `,"reflector":true}`) {
		t.Errorf("reflector encode: %s", b)
	} else if got, _, err := decodeMeta(b); err != nil || !got.Reflector {
		t.Errorf("reflector decode = %+v, %v", got, err)
	}
	// Fields a newer agent adds to version 1 are ignored.
	if _, _, err := decodeMeta([]byte(`{"v":1,"name":"a","addr":"10.0.0.1","asn":1,"mode":"overlay","zone":"b"}`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestMetaValidate(t *testing.T) {
	ok := meta("a", 1)
	for _, tc := range []struct {
		name string
		edit func(m *Meta)
		want string // "" for valid
	}{
		{"as built", func(m *Meta) {}, ""},
		{"no blocks", func(m *Meta) { m.Blocks = nil }, ""},
		{"IPv6", func(m *Meta) { m.Addr = netip.MustParseAddr("fd00::1") }, ""},
		{"no name", func(m *Meta) { m.Name = "" }, "no node name"},
		{"no address", func(m *Meta) { m.Addr = netip.Addr{} }, "is not a unicast address"},
		{"mapped address", func(m *Meta) { m.Addr = netip.MustParseAddr("::ffff:10.0.0.1") }, "is not a unicast address"},
		{"zone", func(m *Meta) { m.Addr = netip.MustParseAddr("fe80::1%eth0") }, "is not a unicast address"},
		{"unspecified", func(m *Meta) { m.Addr = netip.IPv4Unspecified() }, "is not a unicast address"},
		{"multicast", func(m *Meta) { m.Addr = netip.MustParseAddr("239.1.1.1") }, "is not a unicast address"},
		{"ASN 0", func(m *Meta) { m.ASN = 0 }, "ASN 0"},
		{"mode", func(m *Meta) { m.Mode = "" }, `unknown mode ""`},
		{"invalid block", func(m *Meta) { m.Blocks = append(m.Blocks, netip.Prefix{}) }, "is not a prefix without host bits"},
		{"host bits", func(m *Meta) { m.Blocks = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")} }, "is not a prefix without host bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ok.clone()
			tc.edit(&m)
			err := m.validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// New refuses metadata memberlist could not carry, and says how many
// blocks fit.
func TestMetaSize(t *testing.T) {
	m := Meta{Name: strings.Repeat("n", 63), Addr: netip.MustParseAddr("10.0.0.1"), ASN: 4200000000, Mode: "overlay"}
	fits := 0
	for i := range 256 {
		m.Blocks = append(m.Blocks, netip.MustParsePrefix(fmt.Sprintf("10.%d.255.0/24", i+100)))
		if m.checkSize() != nil {
			break
		}
		fits = i + 1
	}
	t.Logf("with a 63-character name, %d IPv4 blocks fit in memberlist's 512 bytes", fits)
	if fits < 8 {
		t.Errorf("only %d blocks fit", fits)
	}
	_, err := New(Config{Self: m})
	if err == nil || !strings.Contains(err.Error(), "more than memberlist's limit of 512") {
		t.Errorf("New with %d blocks: %v", len(m.Blocks), err)
	}
}

func TestOverlap(t *testing.T) {
	ours := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:1::/64")}
	for _, tc := range []struct {
		theirs string
		want   bool
	}{
		{"10.244.2.0/24", false},
		{"10.244.1.128/25", true},
		{"10.244.0.0/16", true},
		{"fd00:1::/48", true},
		{"fd00:2::/64", false},
	} {
		_, _, got := overlap(ours, []netip.Prefix{netip.MustParsePrefix(tc.theirs)})
		if got != tc.want {
			t.Errorf("overlap(%s) = %v", tc.theirs, got)
		}
	}
}
