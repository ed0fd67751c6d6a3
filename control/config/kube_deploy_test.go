package config

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// The ConfigMap's one config.yaml serves every node: valid without
// underlay address, blocks or peers, and in Kubernetes mode.
func TestDeployConfigMapValid(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	text, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatalf("configmap.yaml has no config.yaml key (keys: %v)", len(cm.Data))
	}
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if !c.Kubernetes.Enabled || c.Underlay.Address != "" || len(c.BGP.Peers) != 0 {
		t.Errorf("config.yaml is not the one config of every node: kubernetes %+v, underlay %q, peers %v",
			c.Kubernetes, c.Underlay.Address, c.BGP.Peers)
	}
	for i, n := range c.Networks {
		if n.Block != "" || n.Block6 != "" {
			t.Errorf("networks[%d] has a block of its own", i)
		}
	}
}
