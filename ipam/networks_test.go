package ipam

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testNetwork() NetworkInfo {
	return NetworkInfo{
		Name:   "pods",
		VNI:    100,
		Bridge: "vxbr100",
		MTU:    1450,
		Pools:  []Pool{testPool4()},
	}
}

func testPool4() Pool {
	return Pool{
		Subnet:  netip.MustParsePrefix("10.244.0.0/16"),
		Block:   netip.MustParsePrefix("10.244.1.0/24"),
		Gateway: netip.MustParseAddr("10.244.0.1"),
	}
}

func testPool6() Pool {
	return Pool{
		Subnet:  netip.MustParsePrefix("fd00:10:244::/48"),
		Block:   netip.MustParsePrefix("fd00:10:244:1::/64"),
		Gateway: netip.MustParseAddr("fd00:10:244::1"),
	}
}

func TestNetworksRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // WriteNetworks creates it
	second := testNetwork()
	second.Name, second.VNI, second.Bridge, second.MTU = "other", 200, "vxbr200", 0
	second.Pools = []Pool{{
		Subnet:  netip.MustParsePrefix("fd00:244::/48"),
		Block:   netip.MustParsePrefix("fd00:244:0:1::/64"),
		Gateway: netip.MustParseAddr("fd00:244::1"),
	}}
	dual := testNetwork()
	dual.Name, dual.VNI, dual.Bridge = "dual", 300, "vxbr300"
	dual.Pools = []Pool{testPool4(), testPool6()}
	want := []NetworkInfo{testNetwork(), second, dual}
	if err := WriteNetworks(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNetworks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v, want %+v", got, want)
	}
	// Rewriting replaces, and leaves no temporary file behind.
	if err := WriteNetworks(dir, want[:1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadNetworks(dir); len(got) != 1 {
		t.Errorf("after rewrite read %d networks, want 1", len(got))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != NetworksFile {
		t.Errorf("state dir holds %v, want only %s", entries, NetworksFile)
	}
}

func TestReadNetworksMissing(t *testing.T) {
	_, err := ReadNetworks(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestReadNetworksBadFile(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"not json", `{"networks": [`, "unexpected end of JSON input"},
		{"bad prefix", `{"networks":[{"name":"pods","bridge":"vxbr100","subnet":"10.244.0.0/33"}]}`, "10.244.0.0/33"},
		{"invalid network", `{"networks":[{"name":"pods","bridge":"vxbr100","subnet":"10.244.0.0/16","block":"10.244.1.0/24"}]}`, "networks[0]: network \"pods\": gateway: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, NetworksFile), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadNetworks(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestNetworkValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*NetworkInfo)
		want   string // substring naming the field; "" = valid
	}{
		{"valid", func(*NetworkInfo) {}, ""},
		{"mtu zero means the bridge's", func(n *NetworkInfo) { n.MTU = 0 }, ""},
		{"gateway in block", func(n *NetworkInfo) { n.Pools[0].Block = netip.MustParsePrefix("10.244.0.0/24") }, ""},
		{"bad name", func(n *NetworkInfo) { n.Name = "../etc" }, `name "../etc"`},
		{"no bridge", func(n *NetworkInfo) { n.Bridge = "" }, "bridge"},
		{"long bridge", func(n *NetworkInfo) { n.Bridge = "vxbr1234567890123" }, "bridge"},
		{"no subnet", func(n *NetworkInfo) { n.Pools[0].Subnet = netip.Prefix{} }, "subnet: missing"},
		{"no block", func(n *NetworkInfo) { n.Pools[0].Block = netip.Prefix{} }, "block: missing"},
		{"block host bits", func(n *NetworkInfo) { n.Pools[0].Block = netip.MustParsePrefix("10.244.1.7/24") }, "block 10.244.1.7/24: has host bits"},
		{"block outside subnet", func(n *NetworkInfo) { n.Pools[0].Block = netip.MustParsePrefix("10.245.1.0/24") }, "block 10.245.1.0/24: not inside subnet"},
		{"block larger than subnet", func(n *NetworkInfo) { n.Pools[0].Block = netip.MustParsePrefix("10.0.0.0/8") }, "not inside subnet"},
		{"no gateway", func(n *NetworkInfo) { n.Pools[0].Gateway = netip.Addr{} }, "gateway: missing"},
		{"gateway outside subnet", func(n *NetworkInfo) { n.Pools[0].Gateway = netip.MustParseAddr("10.0.0.1") }, "gateway 10.0.0.1: not inside"},
		{"mtu too small", func(n *NetworkInfo) { n.MTU = 67 }, "mtu 67"},
		{"no pools", func(n *NetworkInfo) { n.Pools = nil }, "subnet: missing"},
		{"dual-stack", func(n *NetworkInfo) { n.Pools = append(n.Pools, testPool6()) }, ""},
		{"ipv6 only", func(n *NetworkInfo) { n.Pools = []Pool{testPool6()} }, ""},
		{"three pools", func(n *NetworkInfo) { n.Pools = append(n.Pools, testPool6(), testPool6()) }, "pools: 3, at most 2"},
		{"no block6", func(n *NetworkInfo) {
			n.Pools = append(n.Pools, Pool{Subnet: testPool6().Subnet, Gateway: testPool6().Gateway})
		}, "block6: missing"},
		{"block6 outside", func(n *NetworkInfo) {
			p := testPool6()
			p.Block = netip.MustParsePrefix("fd00:99::/64")
			n.Pools = append(n.Pools, p)
		}, "block6 fd00:99::/64: not inside subnet6 fd00:10:244::/48"},
		{"gateway6 outside", func(n *NetworkInfo) {
			p := testPool6()
			p.Gateway = netip.MustParseAddr("fd00:99::1")
			n.Pools = append(n.Pools, p)
		}, "gateway6 fd00:99::1: not inside subnet6"},
		{"ipv4 second pool", func(n *NetworkInfo) { n.Pools = append(n.Pools, testPool4()) }, "subnet6 10.244.0.0/16: not IPv6"},
		{"two ipv6 pools", func(n *NetworkInfo) { n.Pools = []Pool{testPool6(), testPool6()} }, "subnet6 fd00:10:244::/48: subnet fd00:10:244::/48 is IPv6 already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNetwork()
			tt.modify(&n)
			err := n.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWriteNetworksRejects(t *testing.T) {
	n := testNetwork()
	dir := t.TempDir()
	err := WriteNetworks(dir, []NetworkInfo{n, n})
	if err == nil || !strings.Contains(err.Error(), `networks[1]: name "pods": duplicate`) {
		t.Errorf("duplicate names: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, NetworksFile)); !os.IsNotExist(err) {
		t.Errorf("an invalid list was written: %v", err)
	}
}
