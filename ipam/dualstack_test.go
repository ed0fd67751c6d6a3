package ipam

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// TestAllocate6: a dual-stack attachment holds an IPv4 and an IPv6
// address; both are files (so neither is handed out twice), the record
// lists both, Update keeps IP6, Release frees both.
func TestAllocate6(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.0.0/29")
	block6 := netip.MustParsePrefix("fd00:10:244::/125")
	gw, gw6 := netip.MustParseAddr("10.244.0.1"), netip.MustParseAddr("fd00:10:244::1")
	a := Owner{ContainerID: "a", IfName: "eth0"}
	b := Owner{ContainerID: "b", IfName: "eth0"}

	if _, err := s.Allocate6("pods", block6, []netip.Addr{gw6}, a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Allocate6 before Allocate: %v, want ErrNotFound", err)
	}
	ip, err := s.Allocate("pods", block, []netip.Addr{gw}, a)
	if err != nil {
		t.Fatal(err)
	}
	ip6, err := s.Allocate6("pods", block6, []netip.Addr{gw6}, a)
	if err != nil {
		t.Fatal(err)
	}
	if ip6 != netip.MustParseAddr("fd00:10:244::2") {
		t.Errorf("first IPv6 = %s, want fd00:10:244::2 (::0 and the gateway are not handed out)", ip6)
	}
	if again, err := s.Allocate6("pods", block6, []netip.Addr{gw6}, a); err != nil || again != ip6 {
		t.Errorf("repeated Allocate6 = %s, %v; want %s", again, err, ip6)
	}
	if _, err := s.Allocate6("pods", netip.MustParsePrefix("fd00:99::/64"), nil, a); err == nil {
		t.Error("Allocate6 from another block for an attachment that has an IPv6 address: no error")
	}
	if _, err := s.Allocate6("pods", netip.MustParsePrefix("10.0.0.0/24"), nil, a); err == nil {
		t.Error("Allocate6 from an IPv4 block: no error")
	}

	if _, err := s.Allocate("pods", block, []netip.Addr{gw}, b); err != nil {
		t.Fatal(err)
	}
	ipB6, err := s.Allocate6("pods", block6, []netip.Addr{gw6}, b)
	if err != nil {
		t.Fatal(err)
	}
	if ipB6 == ip6 {
		t.Fatalf("two attachments got %s", ip6)
	}

	rec, ok, err := s.Get("a", "eth0")
	if err != nil || !ok || rec.IP != ip || rec.IP6 != ip6 {
		t.Fatalf("Get = %+v %v %v", rec, ok, err)
	}
	rec.MAC = overlay.MustParseMAC("02:00:00:00:00:0a")
	if err := s.Update(rec); err != nil {
		t.Fatal(err)
	}
	all, err := s.List()
	if err != nil || len(all) != 2 {
		t.Fatalf("List = %+v, %v; want 2 records (the IPv6 files are not records)", all, err)
	}
	eps, err := s.Endpoints()
	if err != nil || len(eps) != 1 || !slices.Equal(eps[0].IPs, []netip.Addr{ip, ip6}) {
		t.Fatalf("Endpoints = %+v, %v; want a's two IPs", eps, err)
	}

	if err := s.Release("a", "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ip.String(), ip6.String()} {
		if _, err := os.Stat(filepath.Join(s.Dir(), "pods", f)); !os.IsNotExist(err) {
			t.Errorf("file %s after Release: %v", f, err)
		}
	}
	// The released IPv6 address is free again; b's is still taken. Round
	// robin goes on past b's address first.
	if _, err := s.Allocate("pods", block, []netip.Addr{gw}, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Allocate6("pods", block6, []netip.Addr{gw6}, a)
	if err != nil || got == ipB6 {
		t.Errorf("Allocate6 after Release = %s, %v", got, err)
	}
}

// TestAllocate6Exhausted: a full IPv6 block is ErrExhausted.
func TestAllocate6Exhausted(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.0.0/24")
	block6 := netip.MustParsePrefix("fd00:10:244::/126") // ::1..::3
	gw6 := netip.MustParseAddr("fd00:10:244::1")
	for i, id := range []string{"a", "b", "c"} {
		o := Owner{ContainerID: id, IfName: "eth0"}
		if _, err := s.Allocate("pods", block, nil, o); err != nil {
			t.Fatal(err)
		}
		_, err := s.Allocate6("pods", block6, []netip.Addr{gw6}, o)
		if i < 2 && err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if i == 2 && !errors.Is(err, ErrExhausted) {
			t.Fatalf("third IPv6 in a /126 with a gateway: %v, want ErrExhausted", err)
		}
	}
}

// TestNetworkInfoDualStack: the IPv6 fields are validated when present
// and left out of the file when absent.
func TestNetworkInfoDualStack(t *testing.T) {
	n := NetworkInfo{Name: "pods", VNI: 100, Bridge: "vxbr100",
		Subnet: netip.MustParsePrefix("10.244.0.0/16"), Block: netip.MustParsePrefix("10.244.1.0/24"), Gateway: netip.MustParseAddr("10.244.0.1")}
	dir := t.TempDir()
	if err := WriteNetworks(dir, []NetworkInfo{n}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, NetworksFile)); len(b) == 0 || containsAny(string(b), "subnet6", "block6", "gateway6") {
		t.Errorf("IPv4-only networks.json mentions IPv6 fields:\n%s", b)
	}
	n.Subnet6, n.Block6, n.Gateway6 = netip.MustParsePrefix("fd00:10:244::/48"), netip.MustParsePrefix("fd00:10:244:1::/64"), netip.MustParseAddr("fd00:10:244::1")
	if err := WriteNetworks(dir, []NetworkInfo{n}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNetworks(dir)
	if err != nil || len(got) != 1 || got[0] != n || !got[0].DualStack() {
		t.Fatalf("ReadNetworks = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		edit func(n *NetworkInfo)
	}{
		{"no block6", func(n *NetworkInfo) { n.Block6 = netip.Prefix{} }},
		{"block6 outside", func(n *NetworkInfo) { n.Block6 = netip.MustParsePrefix("fd00:99::/64") }},
		{"gateway6 outside", func(n *NetworkInfo) { n.Gateway6 = netip.MustParseAddr("fd00:99::1") }},
		{"IPv4 subnet6", func(n *NetworkInfo) { n.Subnet6 = netip.MustParsePrefix("10.0.0.0/8") }},
	} {
		m := n
		tc.edit(&m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate passed", tc.name)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
