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

// TestAllocateDualStack: a dual-stack attachment holds an IPv4 and an
// IPv6 address; both are files (so neither is handed out twice), the
// record lists both, Update keeps them, Release frees both.
func TestAllocateDualStack(t *testing.T) {
	s := openTestStore(t)
	blocks := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/29"), netip.MustParsePrefix("fd00:10:244::/125")}
	gws := addrs("10.244.0.1", "fd00:10:244::1")
	a := Owner{ContainerID: "a", IfName: "eth0"}
	b := Owner{ContainerID: "b", IfName: "eth0"}

	ipsA, err := s.Allocate("pods", blocks, gws, a)
	if err != nil {
		t.Fatal(err)
	}
	if want := addrs("10.244.0.2", "fd00:10:244::2"); !slices.Equal(ipsA, want) {
		t.Errorf("first addresses = %v, want %v (network addresses and gateways are not handed out)", ipsA, want)
	}
	if again, err := s.Allocate("pods", blocks, gws, a); err != nil || !slices.Equal(again, ipsA) {
		t.Errorf("repeated Allocate = %v, %v; want %v", again, err, ipsA)
	}
	ipsB, err := s.Allocate("pods", blocks, gws, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := addrs("10.244.0.3", "fd00:10:244::3"); !slices.Equal(ipsB, want) {
		t.Fatalf("b got %v, want %v", ipsB, want)
	}

	rec, ok, err := s.Get("a", "eth0")
	if err != nil || !ok || !slices.Equal(rec.IPs, ipsA) {
		t.Fatalf("Get = %+v %v %v", rec, ok, err)
	}
	rec.MAC = overlay.MustParseMAC("02:00:00:00:00:0a")
	if err := s.Update(rec); err != nil {
		t.Fatal(err)
	}
	all, err := s.List()
	if err != nil || len(all) != 2 {
		t.Fatalf("List = %+v, %v; want 2 records (the IPv6 files are copies)", all, err)
	}
	eps, err := s.Endpoints()
	if err != nil || len(eps) != 1 || !slices.Equal(eps[0].IPs, ipsA) {
		t.Fatalf("Endpoints = %+v, %v; want a's two IPs", eps, err)
	}

	if err := s.Release("a", "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ipsA {
		if _, err := os.Stat(filepath.Join(s.Dir(), "pods", ip.String())); !os.IsNotExist(err) {
			t.Errorf("file %s after Release: %v", ip, err)
		}
	}
	// Each family goes on round robin past b's address.
	got, err := s.Allocate("pods", blocks, gws, a)
	if want := addrs("10.244.0.4", "fd00:10:244::4"); err != nil || !slices.Equal(got, want) {
		t.Errorf("Allocate after Release = %v, %v; want %v", got, err, want)
	}
}

// TestAllocateBlocks: what Allocate makes of the blocks it is given and
// of the addresses the interface already holds.
func TestAllocateBlocks(t *testing.T) {
	v4, v6 := netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:10:244:1::/64")
	tests := []struct {
		name    string
		before  []netip.Prefix // allocated first for the same interface
		blocks  []netip.Prefix
		want    []netip.Addr
		wantErr string
	}{
		{name: "ipv4", blocks: []netip.Prefix{v4}, want: addrs("10.244.1.1")},
		{name: "ipv6 only", blocks: []netip.Prefix{v6}, want: addrs("fd00:10:244:1::1")},
		{name: "ipv6 first", blocks: []netip.Prefix{v6, v4}, want: addrs("fd00:10:244:1::1", "10.244.1.1")},
		{name: "becomes dual-stack", before: []netip.Prefix{v4}, blocks: []netip.Prefix{v4, v6}, want: addrs("10.244.1.1", "fd00:10:244:1::1")},
		{name: "keeps what it has", before: []netip.Prefix{v4, v6}, blocks: []netip.Prefix{v4}, want: addrs("10.244.1.1")},
		{name: "block6 moved", before: []netip.Prefix{v4, v6}, blocks: []netip.Prefix{v4, netip.MustParsePrefix("fd00:99::/64")}, wantErr: "already has fd00:10:244:1::1"},
		{name: "no block", blocks: nil, wantErr: "no block"},
		{name: "two ipv4 blocks", blocks: []netip.Prefix{v4, netip.MustParsePrefix("10.0.0.0/24")}, wantErr: "one block per address family"},
		{name: "invalid block", blocks: []netip.Prefix{v4, {}}, wantErr: "invalid block"},
		{name: "mapped block", blocks: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/120")}, wantErr: "invalid block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			o := Owner{ContainerID: "c", IfName: "eth0"}
			if tt.before != nil {
				if _, err := s.Allocate("pods", tt.before, nil, o); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Allocate("pods", tt.blocks, nil, o)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Allocate = %v, %v; want %v", got, err, tt.want)
			}
			rec, _, _ := s.Get("c", "eth0")
			if want := slices.SortedFunc(slices.Values(append(got, rec.IPs...)), netip.Addr.Compare); !slices.Equal(rec.IPs, slices.Compact(want)) {
				t.Errorf("record holds %v, want the sorted union with %v", rec.IPs, got)
			}
		})
	}
}

// TestAllocateAllOrNothing: when one family's block is full, the other's
// address is not taken either, and the error says which block.
func TestAllocateAllOrNothing(t *testing.T) {
	s := openTestStore(t)
	blocks := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24"), netip.MustParsePrefix("fd00:10:244::/126")} // ::1..::3
	gws := addrs("10.244.0.1", "fd00:10:244::1")
	for _, id := range []string{"a", "b"} {
		if _, err := s.Allocate("pods", blocks, gws, Owner{ContainerID: id, IfName: "eth0"}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	_, err := s.Allocate("pods", blocks, gws, Owner{ContainerID: "c", IfName: "eth0"})
	var ee *ExhaustedError
	if !errors.Is(err, ErrExhausted) || !errors.As(err, &ee) || ee.Block != blocks[1] {
		t.Fatalf("third dual-stack allocation in a /126 with a gateway: %v, want the IPv6 block exhausted", err)
	}
	if _, ok, _ := s.Get("c", "eth0"); ok {
		t.Error("the failed allocation left a record")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "pods", "10.244.0.4")); !os.IsNotExist(err) {
		t.Errorf("the failed allocation took 10.244.0.4: %v", err)
	}
}

// TestNetworkInfoDualStack: the IPv6 pool is left out of the file when
// absent, and read back when present.
func TestNetworkInfoDualStack(t *testing.T) {
	n := testNetwork()
	dir := t.TempDir()
	if err := WriteNetworks(dir, []NetworkInfo{n}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, NetworksFile)); len(b) == 0 || containsAny(string(b), "subnet6", "block6", "gateway6") {
		t.Errorf("IPv4-only networks.json mentions IPv6 fields:\n%s", b)
	}
	n.Pools = append(n.Pools, testPool6())
	if err := WriteNetworks(dir, []NetworkInfo{n}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNetworks(dir)
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Pools, n.Pools) {
		t.Fatalf("ReadNetworks = %+v, %v", got, err)
	}
	if want := []netip.Prefix{testPool4().Block, testPool6().Block}; !slices.Equal(got[0].Blocks(), want) {
		t.Errorf("Blocks = %v, want %v", got[0].Blocks(), want)
	}
	if want := addrs("10.244.0.1", "fd00:10:244::1"); !slices.Equal(got[0].Gateways(), want) {
		t.Errorf("Gateways = %v, want %v", got[0].Gateways(), want)
	}
	for ip, want := range map[string]netip.Prefix{"10.244.200.1": testPool4().Subnet, "fd00:10:244:9::1": testPool6().Subnet, "10.0.0.1": {}} {
		p, ok := got[0].PoolOf(netip.MustParseAddr(ip))
		if p.Subnet != want || ok != want.IsValid() {
			t.Errorf("PoolOf(%s) = %v, %v; want subnet %v", ip, p, ok, want)
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
