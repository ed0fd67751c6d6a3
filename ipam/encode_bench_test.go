package ipam

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
)

// encodeRecords are records as the plugin writes them: single and dual
// stack, with the strings json.Marshal escapes.
func encodeRecords(t testing.TB) []Record {
	mac, err := overlay.ParseMAC("02:b1:00:00:27:0f")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	return []Record{
		{ContainerID: "bulk0000009999", IfName: "eth0", CNINetwork: "vxbgp", Network: "vxnet",
			IPs: []netip.Addr{netip.MustParseAddr("10.244.167.250")}, MAC: mac, HostIf: "vxb1a2b3c4d5e6",
			Netns: "/var/run/netns/cni-1234", Created: created},
		{ContainerID: "c<&>\"\\\u2028é", IfName: "eth1", Network: "n", Chained: true,
			IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}, Created: created},
	}
}

// Store.write calls MarshalJSON itself: the bytes are json.Marshal's.
func TestMarshalJSONIsJSONMarshal(t *testing.T) {
	for _, r := range encodeRecords(t) {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("MarshalJSON = %s, json.Marshal %s", got, want)
		}
	}
}

// BenchmarkEncodeRecord: one record file's bytes, the way Store.write
// makes them.
func BenchmarkEncodeRecord(b *testing.B) {
	r := encodeRecords(b)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
