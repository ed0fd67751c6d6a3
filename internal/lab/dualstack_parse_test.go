package lab

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParseCNIResultDualStack(t *testing.T) {
	out := `{"cniVersion":"1.1.0","interfaces":[{"mac":"7a:69:5b:4b:ee:03","name":"vxbd743707ee93"},` +
		`{"mac":"62:91:64:6c:c0:c5","name":"eth0","sandbox":"/run/netns/vx7fbb-h1p1"}],` +
		`"ips":[{"address":"fd00:10:244:1::1/48","gateway":"fd00:10:244::1","interface":1},` +
		`{"address":"10.244.1.1/16","gateway":"10.244.0.1","interface":1}],` +
		`"routes":[{"dst":"0.0.0.0/0","gw":"10.244.0.1"},{"dst":"::/0","gw":"fd00:10:244::1"}]}`
	p := &Pod{Name: "h1p1", IfName: "eth0"}
	if err := p.parseResult([]byte(out)); err != nil {
		t.Fatal(err)
	}
	if p.IP.String() != "10.244.1.1" || p.IP6.String() != "fd00:10:244:1::1" || p.Prefix6.Bits() != 48 || p.MAC != "62:91:64:6c:c0:c5" {
		t.Errorf("parsed %+v", p)
	}
	if eps := PodEndpoints6([]*Pod{p, {Name: "v4only"}}); len(eps) != 1 || eps[0].Addr() != "fd00:10:244:1::1" || eps[0].Label() != "h1p1" {
		t.Errorf("PodEndpoints6 = %v", eps)
	}
}

// TestNetworkConfigYAML: the IPv6 keys are written only in dual-stack labs.
func TestNetworkConfigYAML(t *testing.T) {
	b, err := yaml.Marshal(NetworkConfig{Name: "pods", VNI: 100, Subnet: PodSubnet, Gateway: PodGateway, Block: "10.244.1.0/24"})
	if err != nil || strings.Contains(string(b), "6:") {
		t.Errorf("IPv4-only network config:\n%s (%v)", b, err)
	}
	h := &Host{Index: 10}
	b, err = yaml.Marshal(NetworkConfig{Name: "pods", Subnet6: podSubnet6, Gateway6: PodGateway6, Block6: h.Block6()})
	if err != nil || !strings.Contains(string(b), "block6: fd00:10:244:a::/64") {
		t.Errorf("dual-stack network config:\n%s (%v)", b, err)
	}
}
