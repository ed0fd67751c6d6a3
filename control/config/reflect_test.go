package config

import (
	"reflect"
	"testing"
)

// bgp.mesh defaults to true; bgp.routeReflector is off, and its cluster
// ID defaults to the router ID.
func TestReflectionDefaults(t *testing.T) {
	c, err := Parse([]byte("nodeName: a\nbgp: {asn: 64512, routerID: 10.0.0.1}\nnetworks: [{name: pods, vni: 100, subnet: 10.244.0.0/16, gateway: 10.244.0.1, block: 10.244.1.0/24}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.BGP.MeshOn() || c.BGP.RouteReflector.Enabled || c.BGP.ClusterID() != "10.0.0.1" {
		t.Errorf("defaults: mesh %t, reflector %t, cluster ID %q", c.BGP.MeshOn(), c.BGP.RouteReflector.Enabled, c.BGP.ClusterID())
	}
	c, err = Parse([]byte(`nodeName: a
bgp:
  asn: 64512
  routerID: 10.0.0.1
  mesh: false
  routeReflector: {enabled: true, clusterID: 10.255.0.1}
  peers: [{address: 10.0.0.9, asn: 64512, routeReflectorClient: true}]
networks: [{name: pods, vni: 100, subnet: 10.244.0.0/16, gateway: 10.244.0.1, block: 10.244.1.0/24}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.BGP.MeshOn() || !c.BGP.RouteReflector.Enabled || c.BGP.ClusterID() != "10.255.0.1" || !c.BGP.Peers[0].RouteReflectorClient {
		t.Errorf("explicit: %+v", c.BGP)
	}
}

func TestValidateReflection(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"mesh off", func(c *Config) { off := false; c.BGP.Mesh = &off }, nil},
		{"reflector", func(c *Config) { c.BGP.RouteReflector.Enabled = true }, nil},
		{"reflector with a cluster ID and a static client", func(c *Config) {
			c.BGP.RouteReflector = RouteReflector{Enabled: true, ClusterID: "10.255.0.1"}
			c.BGP.Peers[0].RouteReflectorClient = true
		}, nil},
		{"cluster ID not IPv4", func(c *Config) { c.BGP.RouteReflector = RouteReflector{Enabled: true, ClusterID: "fd00::1"} },
			[]string{`bgp.routeReflector.clusterID: must be an IPv4 address, got "fd00::1"`}},
		{"cluster ID garbage", func(c *Config) { c.BGP.RouteReflector = RouteReflector{Enabled: true, ClusterID: "rr1"} },
			[]string{`bgp.routeReflector.clusterID: must be an IPv4 address, got "rr1"`}},
		{"cluster ID without the reflector", func(c *Config) { c.BGP.RouteReflector.ClusterID = "10.255.0.1" },
			[]string{"bgp.routeReflector.clusterID: is set but bgp.routeReflector.enabled is false"}},
		{"a client without the reflector", func(c *Config) { c.BGP.Peers[0].RouteReflectorClient = true },
			[]string{"bgp.peers[0].routeReflectorClient: needs bgp.routeReflector.enabled: true (only a reflector has clients)"}},
		{"an eBGP client", func(c *Config) { c.BGP.RouteReflector.Enabled = true; c.BGP.Peers[1].RouteReflectorClient = true },
			[]string{"bgp.peers[1].routeReflectorClient: the peer's asn 64513 is not bgp.asn 64512: route reflection is within one AS (iBGP)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(c)
			if got := messages(c.Validate()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
