package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vxbgp/vxbgp/overlay"
)

// TestAllocateOrder fills blocks from empty and checks the order of the
// addresses handed out and what is skipped.
func TestAllocateOrder(t *testing.T) {
	tests := []struct {
		name     string
		block    string
		reserved []netip.Addr
		want     []netip.Addr // every address, in order, until exhausted
	}{
		{"ipv4 /29", "10.244.1.0/29", nil, addrs("10.244.1.1", "10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5", "10.244.1.6")},
		{"gateway in block", "10.244.0.0/29", addrs("10.244.0.1"), addrs("10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5", "10.244.0.6")},
		{"gateway outside block", "10.244.1.0/30", addrs("10.244.0.1"), addrs("10.244.1.1", "10.244.1.2")},
		{"several reserved", "10.244.1.0/29", addrs("10.244.1.2", "10.244.1.5"), addrs("10.244.1.1", "10.244.1.3", "10.244.1.4", "10.244.1.6")},
		{"ipv4 /31 has no network or broadcast", "10.244.1.4/31", nil, addrs("10.244.1.4", "10.244.1.5")},
		{"ipv4 /32", "10.244.1.9/32", nil, addrs("10.244.1.9")},
		{"unmasked block", "10.244.1.3/30", nil, addrs("10.244.1.1", "10.244.1.2")},
		{"ipv6 has no broadcast", "fd00:244::/125", addrs("fd00:244::1"), addrs("fd00:244::2", "fd00:244::3", "fd00:244::4", "fd00:244::5", "fd00:244::6", "fd00:244::7")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			block := netip.MustParsePrefix(tt.block)
			var got []netip.Addr
			for i := 0; ; i++ {
				ip, err := allocOne(s, "pods", block, tt.reserved, Owner{ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0"})
				if errors.Is(err, ErrExhausted) {
					break
				}
				if err != nil {
					t.Fatalf("allocate #%d: %v", i, err)
				}
				got = append(got, ip)
				if i > 300 {
					t.Fatalf("never exhausted; got %v", got)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("allocated %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAllocateRoundRobin: a released address is reused only after the
// rest of the block, across Store instances (the position is on disk).
func TestAllocateRoundRobin(t *testing.T) {
	dir := t.TempDir()
	block := netip.MustParsePrefix("10.244.1.0/29")
	steps := []struct {
		op   string // "alloc" or "release"
		cid  string
		want string // for alloc
	}{
		{"alloc", "a", "10.244.1.1"},
		{"alloc", "b", "10.244.1.2"},
		{"alloc", "c", "10.244.1.3"},
		{"release", "b", ""},
		{"alloc", "d", "10.244.1.4"},
		{"release", "a", ""},
		{"alloc", "e", "10.244.1.5"},
		{"alloc", "f", "10.244.1.6"},
		{"alloc", "g", "10.244.1.1"}, // wrapped; .1 was released before .2 is reached again
		{"alloc", "h", "10.244.1.2"},
	}
	for i, st := range steps {
		s, err := Open(dir) // a fresh Store each step: nothing may live in memory
		if err != nil {
			t.Fatal(err)
		}
		switch st.op {
		case "alloc":
			ip, err := allocOne(s, "pods", block, nil, Owner{ContainerID: st.cid, IfName: "eth0"})
			if err != nil {
				t.Fatalf("step %d alloc %s: %v", i, st.cid, err)
			}
			if ip.String() != st.want {
				t.Errorf("step %d alloc %s = %s, want %s", i, st.cid, ip, st.want)
			}
		case "release":
			if err := s.Release(st.cid, "eth0"); err != nil {
				t.Fatalf("step %d release %s: %v", i, st.cid, err)
			}
		}
	}
}

func TestAllocateIdempotent(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.1.0/24")
	gw := addrs("10.244.0.1")
	first, err := allocOne(s, "pods", block, gw, Owner{ContainerID: "c1", IfName: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		network  string
		block    string
		cid, if_ string
		same     bool   // want first again
		wantErr  string // substring
	}{
		{name: "repeat", network: "pods", block: "10.244.1.0/24", cid: "c1", if_: "eth0", same: true},
		{name: "repeat again", network: "pods", block: "10.244.1.0/24", cid: "c1", if_: "eth0", same: true},
		{name: "other interface", network: "pods", block: "10.244.1.0/24", cid: "c1", if_: "net1"},
		{name: "other container", network: "pods", block: "10.244.1.0/24", cid: "c2", if_: "eth0"},
		{name: "same attachment other network", network: "other", block: "10.245.1.0/24", cid: "c1", if_: "eth0", wantErr: "already has 10.244.1.1 in network pods"},
		{name: "same attachment block moved", network: "pods", block: "10.244.2.0/24", cid: "c1", if_: "eth0", wantErr: "already has 10.244.1.1"},
		{name: "invalid network name", network: "../x", block: "10.244.1.0/24", cid: "c3", if_: "eth0", wantErr: "invalid network name"},
		{name: "no container", network: "pods", block: "10.244.1.0/24", cid: "", if_: "eth0", wantErr: "container ID and interface name are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, err := allocOne(s, tt.network, netip.MustParsePrefix(tt.block), gw, Owner{ContainerID: tt.cid, IfName: tt.if_})
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if (ip == first) != tt.same {
				t.Errorf("got %s, first was %s, want same=%v", ip, first, tt.same)
			}
		})
	}
	recs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Errorf("List has %d records, want 3: %+v", len(recs), recs)
	}
}

func TestReleaseAndGet(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.1.0/24")
	ip, err := allocOne(s, "pods", block, nil, Owner{ContainerID: "c1", IfName: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allocOne(s, "pods", block, nil, Owner{ContainerID: "c2", IfName: "eth0"}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.Get("c1", "eth0")
	if err != nil || !ok {
		t.Fatalf("Get before release = %v, %v", ok, err)
	}
	if !slices.Equal(r.IPs, []netip.Addr{ip}) || r.Network != "pods" || r.ContainerID != "c1" || r.IfName != "eth0" || r.Created.IsZero() {
		t.Errorf("record = %+v", r)
	}
	for i := range 2 { // the second release must succeed too: DEL is repeated
		if err := s.Release("c1", "eth0"); err != nil {
			t.Fatalf("release #%d: %v", i, err)
		}
	}
	if _, ok, err := s.Get("c1", "eth0"); err != nil || ok {
		t.Errorf("Get after release = %v, %v; want not found", ok, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "pods", ip.String())); !os.IsNotExist(err) {
		t.Errorf("record file still there: %v", err)
	}
	if _, ok, _ := s.Get("c2", "eth0"); !ok {
		t.Errorf("releasing c1 released c2")
	}
	if err := s.Release("never", "eth0"); err != nil {
		t.Errorf("release of unknown attachment: %v", err)
	}
}

func TestUpdateAndEndpoints(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.1.0/24")
	ip, err := allocOne(s, "pods", block, nil, Owner{ContainerID: "c1", IfName: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allocOne(s, "pods", block, nil, Owner{ContainerID: "c2", IfName: "eth0"}); err != nil {
		t.Fatal(err)
	}
	eps, err := s.Endpoints()
	if err != nil || len(eps) != 0 {
		t.Fatalf("Endpoints before any veth = %+v, %v; want none", eps, err)
	}
	upd := Record{ContainerID: "c1", IfName: "eth0", Network: "pods", IPs: []netip.Addr{ip}, MAC: overlay.MustParseMAC("02:00:00:00:00:01"), HostIf: "vxb0123456789a", Netns: "/run/netns/p1"}
	if err := s.Update(upd); err != nil {
		t.Fatal(err)
	}
	eps, err = s.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("%+v", upd.Endpoint())}
	if len(eps) != 1 || fmt.Sprintf("%+v", eps[0]) != want[0] {
		t.Errorf("Endpoints = %+v, want %v", eps, want)
	}
	if eps[0].IPs[0] != ip || eps[0].MAC != upd.MAC || eps[0].HostIf != upd.HostIf {
		t.Errorf("endpoint fields: %+v", eps[0])
	}
	r, _, _ := s.Get("c1", "eth0")
	if r.Created.IsZero() {
		t.Errorf("Update lost Created: %+v", r)
	}

	bad := []struct {
		name   string
		r      Record
		target error
		substr string
	}{
		{"unknown attachment", Record{ContainerID: "nope", IfName: "eth0", Network: "pods", IPs: []netip.Addr{ip}}, ErrNotFound, ""},
		{"other address", Record{ContainerID: "c1", IfName: "eth0", Network: "pods", IPs: addrs("10.244.1.99")}, nil, "not 10.244.1.99"},
		{"other network", Record{ContainerID: "c1", IfName: "eth0", Network: "x", IPs: []netip.Addr{ip}}, nil, "in network x"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(tt.r)
			if err == nil {
				t.Fatal("Update succeeded")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("err = %v, want %v", err, tt.target)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("err = %v, want %q in it", err, tt.substr)
			}
		})
	}
}

func TestExhaustedMessage(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.1.0/24")
	gw := addrs("10.244.1.1")
	for i := range 253 {
		if _, err := allocOne(s, "pods", block, gw, Owner{ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0"}); err != nil {
			t.Fatalf("allocate #%d: %v", i, err)
		}
	}
	_, err := allocOne(s, "pods", block, gw, Owner{ContainerID: "one-too-many", IfName: "eth0"})
	const want = "block 10.244.1.0/24 of network pods exhausted: 253 addresses in use"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	var ee *ExhaustedError
	if !errors.Is(err, ErrExhausted) || !errors.As(err, &ee) || ee.InUse != 253 {
		t.Errorf("err = %#v does not match ErrExhausted/ExhaustedError{InUse: 253}", err)
	}
	// Freeing one makes room again, and exactly that one is handed out.
	if err := s.Release("c100", "eth0"); err != nil {
		t.Fatal(err)
	}
	ip, err := allocOne(s, "pods", block, gw, Owner{ContainerID: "one-too-many", IfName: "eth0"})
	if err != nil || ip.String() != "10.244.1.102" {
		t.Errorf("after release got %s, %v; want 10.244.1.102", ip, err)
	}
}

// TestConcurrentGoroutines: 50 goroutines, some sharing a Store, some with
// their own, never get the same address.
func TestConcurrentGoroutines(t *testing.T) {
	dir := t.TempDir()
	shared, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	block := netip.MustParsePrefix("10.244.1.0/24")
	const n = 50
	ips := make([]netip.Addr, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := shared
			if i%2 == 1 {
				if s, errs[i] = Open(dir); errs[i] != nil {
					return
				}
			}
			ips[i], errs[i] = allocOne(s, "pods", block, addrs("10.244.1.1"), Owner{ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0"})
		})
	}
	wg.Wait()
	seen := make(map[netip.Addr]int)
	for i, ip := range ips {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if j, dup := seen[ip]; dup {
			t.Errorf("goroutines %d and %d both got %s", j, i, ip)
		}
		seen[ip] = i
	}
	recs, err := shared.List()
	if err != nil || len(recs) != n {
		t.Errorf("List = %d records, %v; want %d", len(recs), err, n)
	}
}

// TestTornFiles: what a crash can leave behind (a temporary file cut short)
// is ignored by readers and removed by the next writer; a record that does
// not decode still holds its address.
func TestTornFiles(t *testing.T) {
	s := openTestStore(t)
	block := netip.MustParsePrefix("10.244.1.0/24")
	if _, err := allocOne(s, "pods", block, nil, Owner{ContainerID: "c1", IfName: "eth0"}); err != nil { // 10.244.1.1
		t.Fatal(err)
	}
	netDir := filepath.Join(s.Dir(), "pods")
	torn := filepath.Join(netDir, tempPrefix+"10.244.1.2-123456")
	if err := os.WriteFile(torn, []byte(`{"containerID":"ghost","ifName":"eth0","network":"pods","ip":"10.24`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(netDir, "10.244.1.3"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), tempPrefix+"x"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}

	recs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ContainerID != "c1" {
		t.Errorf("List = %+v, want only c1", recs)
	}
	if _, ok, err := s.Get("ghost", "eth0"); ok || err != nil {
		t.Errorf("Get(ghost) = %v, %v; the torn temp file is not a record", ok, err)
	}
	for _, want := range []struct{ cid, ip string }{{"c2", "10.244.1.2"}, {"c3", "10.244.1.4"}} {
		ip, err := allocOne(s, "pods", block, nil, Owner{ContainerID: want.cid, IfName: "eth0"})
		if err != nil || ip.String() != want.ip {
			t.Errorf("allocate %s = %s, %v; want %s", want.cid, ip, err, want.ip)
		}
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Errorf("torn temp file not removed by the next writer: %v", err)
	}
}

func TestOpenEmptyDir(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

func TestValidNetworkName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"pods", true}, {"Pods_2.a-b", true}, {"0", true}, {strings.Repeat("a", 63), true},
		{"", false}, {".", false}, {"..", false}, {".hidden", false}, {"-x", false},
		{"a/b", false}, {"a b", false}, {strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		if got := ValidNetworkName(tt.name); got != tt.ok {
			t.Errorf("ValidNetworkName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
