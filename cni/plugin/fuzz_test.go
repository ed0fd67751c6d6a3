package plugin

import (
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// FuzzParseConf: whatever a runtime pipes to the plugin, ParseConf returns
// a config or a CNI error with code 7 (invalid network config), never
// panics; a config it accepts has the defaults filled in.
func FuzzParseConf(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"vxbgp","type":"vxbgp-cni","network":"pods","socket":"/run/vxbgp/vxbgp.sock"}`))
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"n","type":"vxbgp-cni","chained":true,"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/x"}],"ips":[{"address":"10.244.1.5/24","interface":0}]}}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"vxbgp-cni","mtu":"1400"}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"vxbgp-cni","stateDir":"relative"}`))
	f.Fuzz(func(t *testing.T, stdin []byte) {
		conf, err := ParseConf(stdin)
		if err != nil {
			if c := Code(err); c != types.ErrInvalidNetworkConfig {
				t.Fatalf("error %v: CNI code %d, want %d", err, c, types.ErrInvalidNetworkConfig)
			}
			return
		}
		if conf.Socket == "" || !filepath.IsAbs(conf.StateDir) {
			t.Fatalf("accepted config without its defaults: socket %q stateDir %q", conf.Socket, conf.StateDir)
		}
		if conf.MTU != 0 && (conf.MTU < 68 || conf.MTU > 65535) {
			t.Fatalf("accepted mtu %d", conf.MTU)
		}
	})
}
