package ipam

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
)

// BenchmarkList reads a store of 10,000 records, as the agent does every
// resync and the plugin twice per ADD (Allocate, Update) on a full node.
func BenchmarkList(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir(), "pods"), dirPerm); err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("10.244.0.1")
	for i := range 10000 {
		r := Record{ContainerID: "c" + ip.String(), IfName: "eth0", CNINetwork: "vxbgp", Network: "pods",
			IPs: []netip.Addr{ip}, MAC: overlay.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}, HostIf: "vxb0123456789ab",
			Netns: "/var/run/netns/cni-0123", Created: time.Now().UTC().Truncate(time.Second)}
		if err := s.write(r); err != nil {
			b.Fatal(err)
		}
		ip = ip.Next()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		recs, err := s.List()
		if err != nil || len(recs) != 10000 {
			b.Fatalf("List = %d records, %v", len(recs), err)
		}
	}
}
