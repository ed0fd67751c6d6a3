package ipam

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/internal/stateformat"
)

// Files without a version are read as version 1 by TestGoldenRead, and
// written with it by TestGoldenWrite; here: what a newer file does.

// newerNetworks is networks.json as a next format might write it: its
// networks in another shape, which this code cannot decode.
const newerNetworks = `{
  "version": 2,
  "networks": {"pods": {"vni": 100, "pools": [{"subnet": "10.244.0.0/16"}]}}
}
`

// TestNetworksVersion: networks.json in a newer format is refused by its
// readers (the plugin) and by WriteNetworks (the agent at start), which
// leaves it as it is; what WriteNetworks writes carries version 1.
func TestNetworksVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, NetworksFile)
	if err := os.WriteFile(path, []byte(newerNetworks), 0o644); err != nil {
		t.Fatal(err)
	}
	want := path + ": format version 2 is newer than this vxbgp release supports (1); upgrade vxbgpd and vxbgp-cni, or restore the file"
	_, err := ReadNetworks(dir)
	wantNewer(t, "ReadNetworks", err, want)
	wantNewer(t, "WriteNetworks", WriteNetworks(dir, goldenNets), want)
	if b, _ := os.ReadFile(path); string(b) != newerNetworks {
		t.Errorf("WriteNetworks replaced the newer file with:\n%s", b)
	}

	// A file of this version, or without one, is replaced; the new one
	// says version 1 and reads back.
	for _, old := range []string{versioned(goldenNetworks), goldenNetworks, "not JSON"} {
		if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteNetworks(dir, goldenNets[1:]); err != nil {
			t.Fatalf("WriteNetworks over %.20q: %v", old, err)
		}
		var head struct{ Version *int }
		b, _ := os.ReadFile(path)
		if err := json.Unmarshal(b, &head); err != nil || head.Version == nil || *head.Version != NetworksVersion {
			t.Errorf("written file's version = %v, %v; want %d:\n%s", head.Version, err, NetworksVersion, b)
		}
		if nets, err := ReadNetworks(dir); err != nil || !reflect.DeepEqual(nets, goldenNets[1:]) {
			t.Errorf("ReadNetworks after WriteNetworks = %+v, %v", nets, err)
		}
	}
}

// TestRecordVersion: one record in a newer format fails every store
// operation, naming its file; what the store writes carries version 1.
func TestRecordVersion(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.1.0/24")
	ip, err := allocOne(s, "pods", block, nil, Owner{ContainerID: "a", IfName: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(), "pods", ip.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"version":1,`) {
		t.Errorf("record written without its version first:\n%s", b)
	}
	if recs, err := s.List(); err != nil || len(recs) != 1 || recs[0].ContainerID != "a" {
		t.Fatalf("List of a versioned record = %+v, %v", recs, err)
	}

	// A newer record whose fields do not decode any more: still refused
	// as newer, not skipped as unreadable.
	newer := filepath.Join(s.Dir(), "pods", "10.244.1.200")
	if err := os.WriteFile(newer, []byte(`{"version": 2, "owner": {"containerID": "b"}, "ip": ["10.244.1.200"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	want := newer + ": format version 2 is newer than this vxbgp release supports (1); upgrade vxbgpd and vxbgp-cni, or restore the file"
	_, err = s.List()
	wantNewer(t, "List", err, want)
	_, err = s.Allocate("pods", []netip.Prefix{block}, nil, Owner{ContainerID: "c", IfName: "eth0"})
	wantNewer(t, "Allocate", err, want)
	wantNewer(t, "Release", s.Release("a", "eth0"), want)
	_, _, err = s.Get("a", "eth0")
	wantNewer(t, "Get", err, want)

	// Version 1 said out loud, or not at all (older files), reads.
	for _, v1 := range []string{`{"version": 1, "containerID": "b", "ifName": "eth0", "network": "pods", "ip": "10.244.1.200"}`,
		`{"containerID": "b", "ifName": "eth0", "network": "pods", "ip": "10.244.1.200"}`} {
		if err := os.WriteFile(newer, []byte(v1), 0o644); err != nil {
			t.Fatal(err)
		}
		if recs, err := s.List(); err != nil || len(recs) != 2 {
			t.Errorf("List with %s = %+v, %v", v1, recs, err)
		}
	}
}

func wantNewer(t *testing.T, what string, err error, want string) {
	t.Helper()
	var ne *stateformat.NewerError
	if !errors.As(err, &ne) || err.Error() != want {
		t.Errorf("%s: %v\nwant a *stateformat.NewerError: %s", what, err, want)
	}
}
