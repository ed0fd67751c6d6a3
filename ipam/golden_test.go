package ipam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
)

// Golden files: a state directory exactly as the code of commit 14c6257
// (NetworkInfo with Subnet6/Block6/Gateway6, Record with IP/IP6) wrote it
// through WriteNetworks and Store.write, before files carried a format
// version. Plugins and agents of that version read what this one writes
// during a rolling upgrade, and the other way round, so neither side may
// change but by keys the old code ignores (the version).

const goldenNetworks = `{
  "networks": [
    {
      "name": "pods",
      "vni": 100,
      "bridge": "vxbr100",
      "subnet": "10.244.0.0/16",
      "block": "10.244.1.0/24",
      "gateway": "10.244.0.1",
      "mtu": 1450,
      "subnet6": "fd00:10:244::/48",
      "block6": "fd00:10:244:1::/64",
      "gateway6": "fd00:10:244::1"
    },
    {
      "name": "v4",
      "vni": 200,
      "bridge": "vxbr200",
      "subnet": "10.96.0.0/16",
      "block": "10.96.1.0/24",
      "gateway": "10.96.0.1",
      "mtu": 0
    },
    {
      "name": "v6only",
      "vni": 300,
      "bridge": "vxbr300",
      "subnet": "fd00:300::/48",
      "block": "fd00:300:0:1::/64",
      "gateway": "fd00:300::1",
      "mtu": 1400
    }
  ]
}
`

// A dual-stack attachment: the record proper, named by "ip", and its copy
// under the IPv6 address.
const goldenDualStack = `{
  "containerID": "a",
  "ifName": "eth0",
  "cniNetwork": "k8s-pod-network",
  "network": "pods",
  "ip": "10.244.1.2",
  "ip6": "fd00:10:244:1::2",
  "mac": "02:00:00:00:00:0a",
  "hostIf": "vxb0000000000a",
  "netns": "/run/netns/a",
  "created": "2026-12-01T10:00:00Z"
}
`

// A dual-stack ADD in progress: no veth yet.
const goldenInProgress = `{
  "containerID": "b",
  "ifName": "eth0",
  "cniNetwork": "k8s-pod-network",
  "network": "pods",
  "ip": "10.244.1.3",
  "ip6": "fd00:10:244:1::3",
  "created": "2026-12-01T10:00:00Z"
}
`

// goldenChained is one of the two records of a chained interface with two
// IPv4 addresses (Claim wrote one record per address); %s is the address.
const goldenChained = `{
  "containerID": "c",
  "ifName": "eth0",
  "cniNetwork": "chain",
  "network": "pods",
  "ip": "%s",
  "mac": "02:00:00:00:00:0c",
  "hostIf": "veth1234",
  "netns": "/run/netns/c",
  "chained": true,
  "created": "2026-12-01T10:00:00Z"
}
`

// An IPv4-only attachment, written before the CNI network name was
// recorded.
const goldenV4 = `{
  "containerID": "d",
  "ifName": "net1",
  "network": "v4",
  "ip": "10.96.1.1",
  "mac": "02:00:00:00:00:0d",
  "hostIf": "vxb0000000000d",
  "netns": "/run/netns/d",
  "created": "2026-12-01T10:00:00Z"
}
`

// An attachment to a network whose only pool is IPv6.
const goldenV6Only = `{
  "containerID": "e",
  "ifName": "eth0",
  "cniNetwork": "v6",
  "network": "v6only",
  "ip": "fd00:300:0:1::1",
  "mac": "02:00:00:00:00:0e",
  "hostIf": "vxb0000000000e",
  "netns": "/run/netns/e",
  "created": "2026-12-01T10:00:00Z"
}
`

// goldenFiles is the state directory.
var goldenFiles = map[string]string{
	"networks.json":               goldenNetworks,
	"ipam/pods/10.244.1.2":        goldenDualStack,
	"ipam/pods/fd00:10:244:1::2":  goldenDualStack,
	"ipam/pods/10.244.1.3":        goldenInProgress,
	"ipam/pods/fd00:10:244:1::3":  goldenInProgress,
	"ipam/pods/10.244.200.10":     fmt.Sprintf(goldenChained, "10.244.200.10"),
	"ipam/pods/10.244.200.11":     fmt.Sprintf(goldenChained, "10.244.200.11"),
	"ipam/pods/last_reserved":     "10.244.1.3\n",
	"ipam/pods/last_reserved6":    "fd00:10:244:1::3\n",
	"ipam/v4/10.96.1.1":           goldenV4,
	"ipam/v4/last_reserved":       "10.96.1.1\n",
	"ipam/v6only/fd00:300:0:1::1": goldenV6Only,
	"ipam/v6only/last_reserved":   "fd00:300:0:1::1\n",
}

// goldenNets and goldenRecords are what the golden files hold.
var (
	goldenNets = []NetworkInfo{
		{Name: "pods", VNI: 100, Bridge: "vxbr100", MTU: 1450, Pools: []Pool{
			{Subnet: netip.MustParsePrefix("10.244.0.0/16"), Block: netip.MustParsePrefix("10.244.1.0/24"), Gateway: netip.MustParseAddr("10.244.0.1")},
			{Subnet: netip.MustParsePrefix("fd00:10:244::/48"), Block: netip.MustParsePrefix("fd00:10:244:1::/64"), Gateway: netip.MustParseAddr("fd00:10:244::1")},
		}},
		{Name: "v4", VNI: 200, Bridge: "vxbr200", Pools: []Pool{
			{Subnet: netip.MustParsePrefix("10.96.0.0/16"), Block: netip.MustParsePrefix("10.96.1.0/24"), Gateway: netip.MustParseAddr("10.96.0.1")},
		}},
		{Name: "v6only", VNI: 300, Bridge: "vxbr300", MTU: 1400, Pools: []Pool{
			{Subnet: netip.MustParsePrefix("fd00:300::/48"), Block: netip.MustParsePrefix("fd00:300:0:1::/64"), Gateway: netip.MustParseAddr("fd00:300::1")},
		}},
	}
	goldenCreated = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	goldenRecords = []Record{ // as List returns them
		{ContainerID: "a", IfName: "eth0", CNINetwork: "k8s-pod-network", Network: "pods", IPs: addrs("10.244.1.2", "fd00:10:244:1::2"),
			MAC: overlay.MustParseMAC("02:00:00:00:00:0a"), HostIf: "vxb0000000000a", Netns: "/run/netns/a", Created: goldenCreated},
		{ContainerID: "b", IfName: "eth0", CNINetwork: "k8s-pod-network", Network: "pods", IPs: addrs("10.244.1.3", "fd00:10:244:1::3"), Created: goldenCreated},
		{ContainerID: "c", IfName: "eth0", CNINetwork: "chain", Network: "pods", IPs: addrs("10.244.200.10", "10.244.200.11"),
			MAC: overlay.MustParseMAC("02:00:00:00:00:0c"), HostIf: "veth1234", Netns: "/run/netns/c", Chained: true, Created: goldenCreated},
		{ContainerID: "d", IfName: "net1", Network: "v4", IPs: addrs("10.96.1.1"),
			MAC: overlay.MustParseMAC("02:00:00:00:00:0d"), HostIf: "vxb0000000000d", Netns: "/run/netns/d", Created: goldenCreated},
		{ContainerID: "e", IfName: "eth0", CNINetwork: "v6", Network: "v6only", IPs: addrs("fd00:300:0:1::1"),
			MAC: overlay.MustParseMAC("02:00:00:00:00:0e"), HostIf: "vxb0000000000e", Netns: "/run/netns/e", Created: goldenCreated},
	}
)

// TestGoldenRead: a state directory written by the old code reads as
// lists: pools, and one record (one endpoint) per interface with all its
// addresses, the chained one's two records merged. Allocation goes on
// from the old round-robin files.
func TestGoldenRead(t *testing.T) {
	dir := t.TempDir()
	for name, content := range goldenFiles {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nets, err := ReadNetworks(dir)
	if err != nil || !reflect.DeepEqual(nets, goldenNets) {
		t.Errorf("ReadNetworks = %+v, %v\nwant %+v", nets, err, goldenNets)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.List()
	if err != nil || !reflect.DeepEqual(recs, goldenRecords) {
		t.Errorf("List = %+v, %v\nwant %+v", recs, err, goldenRecords)
	}
	eps, err := s.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ep := range eps {
		got = append(got, ep.Key().String()+" "+addrList(ep.IPs))
	}
	want := []string{"a/eth0 10.244.1.2, fd00:10:244:1::2", "c/eth0 10.244.200.10, 10.244.200.11", "d/net1 10.96.1.1", "e/eth0 fd00:300:0:1::1"}
	if !slices.Equal(got, want) {
		t.Errorf("Endpoints = %q, want %q (b has no MAC yet)", got, want)
	}
	ips, err := s.Allocate("pods", nets[0].Blocks(), nets[0].Gateways(), Owner{ContainerID: "f", IfName: "eth0"})
	if want := addrs("10.244.1.4", "fd00:10:244:1::4"); err != nil || !slices.Equal(ips, want) {
		t.Errorf("Allocate after the old last_reserved and last_reserved6 = %v, %v; want %v", ips, err, want)
	}
	if err := s.Release("c", "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"10.244.200.10", "10.244.200.11"} {
		if _, err := os.Stat(filepath.Join(s.Dir(), "pods", f)); !os.IsNotExist(err) {
			t.Errorf("Release of the chained interface left %s: %v", f, err)
		}
	}
}

// versioned is an old file as this code writes it: the same bytes with
// the format version first. Old plugins and agents read it: they decode
// with encoding/json, which ignores keys it does not know.
func versioned(old string) string {
	return strings.Replace(old, "{\n", "{\n  \"version\": 1,\n", 1)
}

// compacted is a record file as this code writes it: compact JSON (the
// old code indented it; encoding/json, which every reader uses, takes
// either) with the newline.
func compacted(t *testing.T, indented string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(indented)); err != nil {
		t.Fatal(err)
	}
	return b.String() + "\n"
}

// TestGoldenWrite: what this code writes is byte for byte what the old
// code wrote, with the format version added and, in the records, without
// the indentation.
func TestGoldenWrite(t *testing.T) {
	dir := t.TempDir()
	if err := WriteNetworks(dir, goldenNets); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range goldenRecords {
		if err := os.MkdirAll(filepath.Join(s.Dir(), r.Network), dirPerm); err != nil {
			t.Fatal(err)
		}
		if err := s.write(r); err != nil {
			t.Fatal(err)
		}
	}
	got := readTree(t, dir)
	want := maps.Clone(goldenFiles)
	for name := range want {
		if filepath.Base(name) == lastReservedName || filepath.Base(name) == lastReserved6Name {
			delete(want, name) // Allocate writes them; nothing here does
		}
	}
	for name := range want {
		want[name] = versioned(want[name])
		if strings.HasPrefix(name, "ipam/") {
			want[name] = compacted(t, want[name])
		}
	}
	want["ipam/"+lockName] = ""
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if got[name] != want[name] {
			t.Errorf("%s:\n%s\nwant (as the old code wrote it, with the version):\n%s", name, got[name], want[name])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected file %s", name)
		}
	}
}

// TestRecordJSON: a record encodes as one file only when its addresses fit
// "ip" and "ip6"; decoding is the inverse.
func TestRecordJSON(t *testing.T) {
	tests := []struct {
		ips  []netip.Addr
		want string // "ip" and "ip6" of the encoding; "" = does not fit
	}{
		{addrs("10.0.0.1"), `10.0.0.1 invalid IP`},
		{addrs("fd00::1"), `fd00::1 invalid IP`},
		{addrs("10.0.0.1", "fd00::1"), `10.0.0.1 fd00::1`},
		{addrs("fd00::1", "10.0.0.1"), ""},
		{addrs("10.0.0.1", "10.0.0.2"), ""},
		{addrs("10.0.0.1", "fd00::1", "fd00::2"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		b, err := json.Marshal(Record{ContainerID: "c", IfName: "eth0", Network: "pods", IPs: tt.ips})
		if tt.want == "" {
			if err == nil {
				t.Errorf("%v: encoded as %s, want an error", tt.ips, b)
			}
			continue
		}
		var j recordJSON
		if err != nil || json.Unmarshal(b, &j) != nil || j.IP.String()+" "+j.IP6.String() != tt.want {
			t.Errorf("%v: encoded as %s, %v; want ip, ip6 = %s", tt.ips, b, err, tt.want)
		}
		var back Record
		if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back.IPs, tt.ips) {
			t.Errorf("%v: decoded as %v, %v", tt.ips, back.IPs, err)
		}
	}
}

// readTree returns every file under dir by its slash-separated path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
