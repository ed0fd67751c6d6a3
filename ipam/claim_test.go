package ipam

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// TestClaimEndpoints: a chained interface with two addresses of one family
// is stored as a record per address, yet it is one record and one
// endpoint, with both addresses, to every reader.
func TestClaimEndpoints(t *testing.T) {
	s := openTestStore(t)
	mac := overlay.MustParseMAC("02:00:00:00:00:0c")
	r := Record{ContainerID: "c", IfName: "eth0", Network: "pods", IPs: addrs("10.244.200.11", "10.244.200.10"), MAC: mac, HostIf: "veth1", Chained: true}
	if err := s.Claim(r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"10.244.200.10", "10.244.200.11"} {
		if _, err := os.Stat(filepath.Join(s.Dir(), "pods", f)); err != nil {
			t.Errorf("no file for %s: %v", f, err)
		}
	}
	eps, err := s.Endpoints()
	if err != nil || len(eps) != 1 {
		t.Fatalf("Endpoints = %+v, %v; want one", eps, err)
	}
	if want := addrs("10.244.200.10", "10.244.200.11"); !slices.Equal(eps[0].IPs, want) || eps[0].MAC != mac || !eps[0].Chained {
		t.Errorf("endpoint = %+v, want IPs %v (sorted), MAC %s, chained", eps[0], want, mac)
	}
	if rec, ok, err := s.Get("c", "eth0"); err != nil || !ok || len(rec.IPs) != 2 {
		t.Errorf("Get = %+v, %v, %v; want both addresses", rec, ok, err)
	}
	if err := s.Release("c", "eth0"); err != nil {
		t.Fatal(err)
	}
	if all, err := s.List(); err != nil || len(all) != 0 {
		t.Errorf("List after Release = %+v, %v; want nothing", all, err)
	}
}

// TestClaim: which claims succeed, and what the interface holds after.
func TestClaim(t *testing.T) {
	tests := []struct {
		name    string
		first   []string // claimed first by c/eth0 in pods; nil: 10.244.200.9
		claim   Record
		want    []string // c/eth0's addresses after the claim
		wantErr string
	}{
		{name: "dual-stack", claim: Record{IPs: addrs("fd00::5", "10.244.200.5")}, want: []string{"10.244.200.5", "fd00::5"}},
		{name: "again, same", first: []string{"10.244.200.5"}, claim: Record{IPs: addrs("10.244.200.5")}, want: []string{"10.244.200.5"}},
		{name: "again, replaced", first: []string{"10.244.200.5", "10.244.200.6"}, claim: Record{IPs: addrs("10.244.200.6", "10.244.200.7")}, want: []string{"10.244.200.6", "10.244.200.7"}},
		{name: "again, pair to one", first: []string{"10.244.200.5", "fd00::5"}, claim: Record{IPs: addrs("fd00::5")}, want: []string{"fd00::5"}},
		{name: "held by another", claim: Record{ContainerID: "other", IPs: addrs("10.244.200.9")}, wantErr: "held by container c interface eth0"},
		{name: "ipv6 copy held by another", first: []string{"10.244.200.9", "fd00::9"}, claim: Record{ContainerID: "other", IPs: addrs("fd00::9")}, wantErr: "fd00::9 in network pods for container other interface eth0: held by container c"},
		{name: "other network", first: []string{"10.244.200.5"}, claim: Record{Network: "other", IPs: addrs("10.245.0.5")}, wantErr: "it has 10.244.200.5 in network pods"},
		{name: "no address", claim: Record{}, wantErr: "no address"},
		{name: "zone", claim: Record{IPs: addrs("fe80::1%eth0")}, wantErr: "invalid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			base := Record{ContainerID: "c", IfName: "eth0", Network: "pods", Chained: true}
			first := base
			first.IPs = addrs("10.244.200.9")
			if tt.first != nil {
				first.IPs = addrs(tt.first...)
			}
			if err := s.Claim(first); err != nil {
				t.Fatal(err)
			}
			r := tt.claim
			r.ContainerID = cmpOr(r.ContainerID, base.ContainerID)
			r.IfName, r.Chained = base.IfName, true
			r.Network = cmpOr(r.Network, base.Network)
			err := s.Claim(r)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			rec, _, _ := s.Get("c", "eth0")
			if got := strings.Split(addrList(rec.IPs), ", "); !slices.Equal(got, tt.want) {
				t.Errorf("holds %q, want %q", got, tt.want)
			}
			// The files are exactly the addresses: nothing released is left.
			var files []string
			entries, _ := os.ReadDir(filepath.Join(s.Dir(), "pods"))
			for _, e := range entries {
				files = append(files, e.Name())
			}
			if !slices.Equal(files, tt.want) {
				t.Errorf("files %q, want %q", files, tt.want)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestMerge: the records of one interface become one, with every address
// once, sorted; the first record's other fields stay.
func TestMerge(t *testing.T) {
	recs := []Record{
		{ContainerID: "c", IfName: "eth0", HostIf: "first", IPs: addrs("10.244.200.5", "fd00::5")},
		{ContainerID: "d", IfName: "eth0", IPs: addrs("10.244.200.1")},
		{ContainerID: "c", IfName: "eth0", HostIf: "second", IPs: addrs("fd00::5")}, // a crash in the middle of a Claim
		{ContainerID: "c", IfName: "eth1", IPs: addrs("10.244.200.2")},
		{ContainerID: "c", IfName: "eth0", IPs: addrs("10.244.200.4")},
	}
	var got []string
	for _, r := range merge(recs) {
		got = append(got, r.ContainerID+"/"+r.IfName+" "+r.HostIf+" "+addrList(r.IPs))
	}
	want := []string{"c/eth0 first 10.244.200.4, 10.244.200.5, fd00::5", "d/eth0  10.244.200.1", "c/eth1  10.244.200.2"}
	if !slices.Equal(got, want) {
		t.Errorf("merge = %q, want %q", got, want)
	}
}
