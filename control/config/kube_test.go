package config

import (
	"reflect"
	"testing"
)

// kubeConfig is the one config of a Kubernetes cluster: no underlay
// address, no blocks, no peers; the Node fills them.
const kubeConfig = `mode: overlay
bgp:
  asn: 64512
networks:
  - name: pods
    vni: 100
    subnet: 10.244.0.0/16
    gateway: 10.244.0.1
    subnet6: fd00:10:244::/48
    gateway6: fd00:10:244::1
kubernetes:
  enabled: true
  kubeconfig: /etc/vxbgp/kubeconfig
`

func TestKubernetesConfig(t *testing.T) {
	t.Setenv(NodeNameEnv, "node-7")
	c, err := Parse([]byte(kubeConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !c.Kubernetes.Enabled || c.Kubernetes.Kubeconfig != "/etc/vxbgp/kubeconfig" {
		t.Errorf("kubernetes = %+v", c.Kubernetes)
	}
	if c.NodeName != "node-7" {
		t.Errorf("nodeName = %q, want NODE_NAME's node-7", c.NodeName)
	}
	c, err = Parse([]byte("nodeName: from-file\n" + kubeConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "from-file" {
		t.Errorf("nodeName = %q, want the file's over NODE_NAME", c.NodeName)
	}
	if d := Default(); d.Kubernetes.Enabled {
		t.Error("kubernetes.enabled is on by default")
	}
}

func TestValidateKubernetes(t *testing.T) {
	kube := func(c *Config) {
		c.Kubernetes.Enabled = true
		for i := range c.Networks {
			c.Networks[i].Block = ""
		}
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"blocks from the Node", kube, nil},
		{"dual-stack without block6", func(c *Config) {
			dual(c)
			kube(c)
			c.Networks[0].Block6, c.Networks[1].Block6 = "", ""
		}, nil},
		{"without kubernetes a block is required", func(c *Config) { c.Networks[1].Block = "" },
			[]string{"networks[1].block: must be set"}},
		{"a block by hand conflicts", func(c *Config) { kube(c); c.Networks[1].Block = "10.96.0.0/24" },
			[]string{`networks[1].block: must be empty with kubernetes.enabled (each node's block comes from its Node's spec.podCIDRs), got "10.96.0.0/24"`}},
		{"a block6 by hand conflicts", func(c *Config) { dual(c); kube(c); c.Networks[1].Block6 = "" },
			[]string{`networks[0].block6: must be empty with kubernetes.enabled (each node's block comes from its Node's spec.podCIDRs), got "fd00:10:244:1::/64"`}},
		{"relative kubeconfig", func(c *Config) { kube(c); c.Kubernetes.Kubeconfig = "kubeconfig" },
			[]string{`kubernetes.kubeconfig: must be an absolute path, got "kubeconfig"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(c)
			if got := messages(c.Validate()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate problems:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
