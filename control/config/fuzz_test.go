package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse: any file either parses or gives an error, never a panic; a
// config that parses either validates or names the keys that do not.
// The seeds are the shipped examples, the test configs and the corpus in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../deploy/config/overlay.yaml", "../../deploy/config/routed.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("mode: routed\nbgp: {asn: 64512, peers: [{address: 10.0.0.2, asn: 64512}]}\n"))
	f.Add([]byte("discovery: {join: [a, 'b:7946'], probeInterval: 300ms}\n"))
	f.Add([]byte("networks: [{name: pods, vni: 100, subnet: 10.244.0.0/16, gateway: 10.244.0.1, block: 10.244.1.0/24, subnet6: 'fd00::/48'}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if err := c.Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.Contains(line, ":") {
					t.Fatalf("a validation problem that names no key: %q", line)
				}
			}
		}
	})
}
