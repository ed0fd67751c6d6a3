package ipam

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzRecord: a record file's bytes (written by an older plugin, cut
// short by a crash, edited by hand) decode or fail, never panic; a record
// that decodes with addresses encodes back to the same record.
func FuzzRecord(f *testing.F) {
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","network":"pods","ip":"10.244.1.5","mac":"02:00:00:00:00:01","hostIf":"vxc1"}`))
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","ip":"10.244.1.5","ip6":"fd00:10:244:1::5","chained":true}`))
	f.Add([]byte(`{"containerID":"c1","ip":"fd00::1","ip6":"10.0.0.1"}`))
	f.Add([]byte(`{"containerID":"c1","ifName":"eth0","ip":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := json.Unmarshal(b, &r); err != nil || len(r.IPs) == 0 || !fitsOneFile(r.IPs) {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("a decoded record %+v does not encode: %v", r, err)
		}
		var back Record
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s does not decode: %v", out, err)
		}
		if !slices.Equal(back.IPs, r.IPs) || back.ContainerID != r.ContainerID || back.MAC != r.MAC || back.Network != r.Network {
			t.Fatalf("round trip changed the record: %+v -> %+v", r, back)
		}
	})
}

// FuzzNetworkInfo: networks.json entries, which the plugin reads on every
// ADD, decode or fail, and validate or fail, without a panic; a valid one
// survives a round trip.
func FuzzNetworkInfo(f *testing.F) {
	f.Add([]byte(`{"name":"pods","subnet":"10.244.0.0/16","gateway":"10.244.0.1","block":"10.244.1.0/24","mtu":1450}`))
	f.Add([]byte(`{"name":"pods","subnet6":"fd00::/48","gateway6":"fd00::1","block6":"fd00:0:0:1::/64"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var n NetworkInfo
		if json.Unmarshal(b, &n) != nil || n.Validate() != nil {
			return
		}
		out, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("valid %+v does not encode: %v", n, err)
		}
		var back NetworkInfo
		if err := json.Unmarshal(out, &back); err != nil || back.Validate() != nil || !slices.Equal(back.Blocks(), n.Blocks()) {
			t.Fatalf("round trip of %s: %+v, %v", out, back, err)
		}
	})
}
