package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// valid is a config that passes Validate, for the cases to break.
func valid() *Config {
	c := Default()
	c.NodeName = "host-a"
	c.Underlay.Address = "10.0.0.1"
	c.BGP.ASN = 64512
	c.BGP.Peers = []Peer{{Address: "10.0.0.254", ASN: 64512, Port: 179}, {Address: "10.0.0.2", ASN: 64513, Port: 179}}
	c.Discovery.Join = []string{"10.0.0.2", "host-b:7946", "[fd00::2]:7946", "fd00::3"}
	c.Networks = []Network{
		{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24"},
		{Name: "infra-2", VNI: 200, Subnet: "10.96.0.0/16", Gateway: "10.96.255.254", Block: "10.96.0.0/24", MTU: 1450},
	}
	return c
}

func TestValidateOK(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
	}{
		{"as built", func(c *Config) {}},
		{"routed mode", func(c *Config) { c.Mode = ModeRouted }},
		{"routed mode without VNIs", func(c *Config) { c.Mode = ModeRouted; c.Networks[0].VNI = 0; c.Networks[1].VNI = 0 }},
		{"underlay and router ID left to Resolve", func(c *Config) { c.Underlay.Address = ""; c.BGP.RouterID = "" }},
		{"IPv6 underlay with an IPv4 router ID", func(c *Config) { c.Underlay.Address = "fd00::1"; c.BGP.RouterID = "10.0.0.1" }},
		{"router ID other than the underlay", func(c *Config) { c.BGP.RouterID = "192.0.2.1" }},
		{"IPv6 peer", func(c *Config) { c.BGP.Peers[0].Address = "fd00::254" }},
		{"no peers", func(c *Config) { c.BGP.Peers = nil }},
		{"do not listen", func(c *Config) { c.BGP.ListenPort = -1 }},
		{"any listen port", func(c *Config) { c.BGP.ListenPort = 0 }},
		{"highest listen port", func(c *Config) { c.BGP.ListenPort = 65535 }},
		{"hold time 0", func(c *Config) { c.BGP.HoldTime = 0 }},
		{"hold time 3", func(c *Config) { c.BGP.HoldTime = 3 }},
		{"largest GR time", func(c *Config) { c.BGP.GracefulRestartTime = 4095 }},
		{"largest VNI", func(c *Config) { c.Networks[0].VNI = 16777215 }},
		{"gateway inside the block", func(c *Config) { c.Networks[0].Block = "10.244.0.0/24" }},
		{"block is the whole subnet", func(c *Config) { c.Networks[0].Block = "10.244.0.0/16" }},
		{"smallest subnet", func(c *Config) {
			c.Networks[0].Subnet, c.Networks[0].Gateway, c.Networks[0].Block = "10.244.0.0/30", "10.244.0.1", "10.244.0.2/31"
		}},
		{"smallest MTU", func(c *Config) { c.Networks[0].MTU = 576 }},
		{"largest MTU", func(c *Config) { c.Networks[0].MTU = 9000 }},
		{"metrics off", func(c *Config) { c.Metrics.Listen = "" }},
		{"metrics on all addresses", func(c *Config) { c.Metrics.Listen = ":9642" }},
		{"metrics on IPv6", func(c *Config) { c.Metrics.Listen = "[::1]:9642" }},
		{"upper-case log level", func(c *Config) { c.LogLevel = "DEBUG" }},
		{"log level warn", func(c *Config) { c.LogLevel = "warn" }},
		{"absolute secret key file", func(c *Config) { c.Discovery.SecretKeyFile = "/etc/vxbgp/key" }},
		{"slowest probing", func(c *Config) {
			c.Discovery.ProbeInterval, c.Discovery.ProbeTimeout, c.Discovery.SuspicionMult = time.Minute, 59*time.Second, 100
		}},
		{"fastest probing", func(c *Config) {
			c.Discovery.ProbeInterval, c.Discovery.ProbeTimeout, c.Discovery.SuspicionMult = 10*time.Millisecond, time.Millisecond, 1
		}},
		{"shortest rejoin", func(c *Config) { c.Discovery.RejoinInterval = time.Second }},
		{"import prefixes", func(c *Config) {
			c.Mode = ModeRouted
			c.BGP.ImportPrefixes = []string{"0.0.0.0/0", "::/0", "192.0.2.0/24", "2001:db8::/32", "10.244.0.0/16", "10.1.2.3/32"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate:\n%v", err)
			}
		})
	}
}

// TestValidate breaks one rule per case and expects exactly its problems.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"no node name", func(c *Config) { c.NodeName = "" }, []string{"nodeName: must be set (the hostname is unknown)"}},
		{"unknown mode", func(c *Config) { c.Mode = "bridged" }, []string{`mode: must be "overlay" or "routed", got "bridged"`}},
		{"empty mode", func(c *Config) { c.Mode = "" }, []string{`mode: must be "overlay" or "routed", got ""`}},

		{"underlay not an IP", func(c *Config) { c.Underlay.Address = "eth0" }, []string{`underlay.address: must be an IP address, got "eth0"`}},
		{"underlay with a zone", func(c *Config) { c.Underlay.Address = "fe80::1%eth0" }, []string{`underlay.address: must be an IP address, got "fe80::1%eth0"`}},
		{"underlay unspecified", func(c *Config) { c.Underlay.Address = "0.0.0.0" }, []string{"underlay.address: 0.0.0.0 is not a unicast address"}},
		{"underlay multicast", func(c *Config) { c.Underlay.Address = "239.1.1.1" }, []string{"underlay.address: 239.1.1.1 is not a unicast address"}},
		{"IPv6 underlay, no router ID", func(c *Config) { c.Underlay.Address = "fd00::1" }, []string{"bgp.routerID: must be set: underlay.address fd00::1 is not IPv4"}},

		{"no ASN", func(c *Config) { c.BGP.ASN = 0 }, []string{"bgp.asn: must be set (1..4294967295)"}},
		{"AS_TRANS", func(c *Config) { c.BGP.ASN = 23456 }, []string{"bgp.asn: 23456 is reserved"}},
		{"ASN 65535", func(c *Config) { c.BGP.ASN = 65535 }, []string{"bgp.asn: 65535 is reserved"}},
		{"router ID IPv6", func(c *Config) { c.BGP.RouterID = "fd00::1" }, []string{`bgp.routerID: must be an IPv4 address, got "fd00::1"`}},
		{"router ID garbage", func(c *Config) { c.BGP.RouterID = "host-a" }, []string{`bgp.routerID: must be an IPv4 address, got "host-a"`}},
		{"router ID 0.0.0.0", func(c *Config) { c.BGP.RouterID = "0.0.0.0" }, []string{`bgp.routerID: must be an IPv4 address, got "0.0.0.0"`}},
		{"listen port too low", func(c *Config) { c.BGP.ListenPort = -2 }, []string{"bgp.listenPort: must be 1..65535, 0 (any free port) or -1 (do not listen), got -2"}},
		{"listen port too high", func(c *Config) { c.BGP.ListenPort = 65536 }, []string{"bgp.listenPort: must be 1..65535, 0 (any free port) or -1 (do not listen), got 65536"}},
		{"hold time 2", func(c *Config) { c.BGP.HoldTime = 2 }, []string{"bgp.holdTime: must be 0 or 3..65535 seconds, got 2"}},
		{"hold time too long", func(c *Config) { c.BGP.HoldTime = 65536 }, []string{"bgp.holdTime: must be 0 or 3..65535 seconds, got 65536"}},
		{"GR time too long", func(c *Config) { c.BGP.GracefulRestartTime = 4096 }, []string{"bgp.gracefulRestartTime: must be 0..4095 seconds, got 4096"}},

		{"peer address empty", func(c *Config) { c.BGP.Peers[1].Address = "" }, []string{"bgp.peers[1].address: must be set"}},
		{"peer address invalid", func(c *Config) { c.BGP.Peers[1].Address = "10.0.0" }, []string{`bgp.peers[1].address: must be an IP address, got "10.0.0"`}},
		{"peer address multicast", func(c *Config) { c.BGP.Peers[1].Address = "ff02::1" }, []string{"bgp.peers[1].address: ff02::1 is not a unicast address"}},
		{"peer duplicate", func(c *Config) { c.BGP.Peers[1].Address = "10.0.0.254" }, []string{"bgp.peers[1].address: 10.0.0.254 is a duplicate of bgp.peers[0]"}},
		{"peer duplicate, mapped", func(c *Config) { c.BGP.Peers[1].Address = "::ffff:10.0.0.254" }, []string{"bgp.peers[1].address: 10.0.0.254 is a duplicate of bgp.peers[0]"}},
		{"peer is this host", func(c *Config) { c.BGP.Peers[0].Address = "10.0.0.1" }, []string{"bgp.peers[0].address: 10.0.0.1 is this host's own underlay.address"}},
		{"peer without ASN", func(c *Config) { c.BGP.Peers[1].ASN = 0 }, []string{"bgp.peers[1].asn: must be set"}},

		{"import prefix not a CIDR", func(c *Config) { c.BGP.ImportPrefixes = []string{"0.0.0.0/0", "default"} },
			[]string{`bgp.importPrefixes[1]: must be a CIDR prefix like 0.0.0.0/0 or 2001:db8::/32, got "default"`}},
		{"import prefix without length", func(c *Config) { c.BGP.ImportPrefixes = []string{"192.0.2.1"} },
			[]string{`bgp.importPrefixes[0]: must be a CIDR prefix like 0.0.0.0/0 or 2001:db8::/32, got "192.0.2.1"`}},
		{"import prefix empty", func(c *Config) { c.BGP.ImportPrefixes = []string{""} },
			[]string{`bgp.importPrefixes[0]: must be a CIDR prefix like 0.0.0.0/0 or 2001:db8::/32, got ""`}},
		{"import prefix with a zone", func(c *Config) { c.BGP.ImportPrefixes = []string{"fe80::%eth0/64"} },
			[]string{`bgp.importPrefixes[0]: must be a CIDR prefix like 0.0.0.0/0 or 2001:db8::/32, got "fe80::%eth0/64"`}},
		{"import prefix with host bits", func(c *Config) { c.BGP.ImportPrefixes = []string{"::/0", "192.0.2.1/24"} },
			[]string{"bgp.importPrefixes[1]: 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)"}},
		{"import prefix IPv6 with host bits", func(c *Config) { c.BGP.ImportPrefixes = []string{"2001:db8::1/32"} },
			[]string{"bgp.importPrefixes[0]: 2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)"}},
		{"import prefix IPv4-mapped", func(c *Config) { c.BGP.ImportPrefixes = []string{"::ffff:10.0.0.0/104"} },
			[]string{"bgp.importPrefixes[0]: ::ffff:10.0.0.0/104: write IPv4 prefixes in dotted form"}},
		{"import prefix duplicate", func(c *Config) { c.BGP.ImportPrefixes = []string{"0.0.0.0/0", "::/0", "0.0.0.0/0"} },
			[]string{"bgp.importPrefixes[2]: 0.0.0.0/0 is a duplicate of bgp.importPrefixes[0]"}},

		{"bind port", func(c *Config) { c.Discovery.BindPort = 70000 }, []string{"discovery.bindPort: must be 0..65535, got 70000"}},
		{"empty join", func(c *Config) { c.Discovery.Join[1] = "" }, []string{`discovery.join[1]: must be a host or host:port, got ""`}},
		{"join with a space", func(c *Config) { c.Discovery.Join[0] = "host b" }, []string{`discovery.join[0]: must be a host or host:port, got "host b"`}},
		{"join with a bad port", func(c *Config) { c.Discovery.Join[1] = "host-b:gossip" }, []string{`discovery.join[1]: port must be 0..65535, got "gossip"`}},
		{"join with too many colons", func(c *Config) { c.Discovery.Join[1] = "a:b:c" }, []string{`discovery.join[1]: must be host:port, got "a:b:c"`}},
		{"relative secret key file", func(c *Config) { c.Discovery.SecretKeyFile = "key" }, []string{`discovery.secretKeyFile: must be an absolute path, got "key"`}},
		{"secret key file is a directory", func(c *Config) { c.Discovery.SecretKeyFile = "/etc/vxbgp/" },
			[]string{`discovery.secretKeyFile: must name a file, not a directory, got "/etc/vxbgp/"`}},
		{"probe interval too short", func(c *Config) {
			c.Discovery.ProbeInterval, c.Discovery.ProbeTimeout = 5*time.Millisecond, time.Millisecond
		},
			[]string{"discovery.probeInterval: must be 10ms..1m0s, got 5ms"}},
		{"probe interval too long", func(c *Config) { c.Discovery.ProbeInterval = 2 * time.Minute },
			[]string{"discovery.probeInterval: must be 10ms..1m0s, got 2m0s"}},
		{"probe timeout 0", func(c *Config) { c.Discovery.ProbeTimeout = 0 }, []string{"discovery.probeTimeout: must be more than 0, got 0s"}},
		{"probe timeout negative", func(c *Config) { c.Discovery.ProbeTimeout = -time.Second }, []string{"discovery.probeTimeout: must be more than 0, got -1s"}},
		{"probe timeout as long as the interval", func(c *Config) { c.Discovery.ProbeTimeout = 300 * time.Millisecond },
			[]string{"discovery.probeTimeout: must be shorter than discovery.probeInterval (300ms), got 300ms"}},
		{"suspicion multiplier 0", func(c *Config) { c.Discovery.SuspicionMult = 0 }, []string{"discovery.suspicionMult: must be 1..100, got 0"}},
		{"suspicion multiplier too big", func(c *Config) { c.Discovery.SuspicionMult = 101 }, []string{"discovery.suspicionMult: must be 1..100, got 101"}},
		{"rejoin too often", func(c *Config) { c.Discovery.RejoinInterval = 500 * time.Millisecond },
			[]string{"discovery.rejoinInterval: must be at least 1s, got 500ms"}},

		{"no networks", func(c *Config) { c.Networks = nil }, []string{"networks: at least one network is required"}},
		{"network without name", func(c *Config) { c.Networks[1].Name = "" }, []string{"networks[1].name: must be set"}},
		{"network name upper case", func(c *Config) { c.Networks[1].Name = "Pods" }, []string{`networks[1].name: must be lowercase letters, digits and '-', got "Pods"`}},
		{"network name underscore", func(c *Config) { c.Networks[1].Name = "my_pods" }, []string{`networks[1].name: must be lowercase letters, digits and '-', got "my_pods"`}},
		{"network name leading dash", func(c *Config) { c.Networks[1].Name = "-pods" }, []string{`networks[1].name: must be lowercase letters, digits and '-', got "-pods"`}},
		{"network name duplicate", func(c *Config) { c.Networks[1].Name = "pods" }, []string{`networks[1].name: "pods" is a duplicate of networks[0]`}},
		{"VNI 0", func(c *Config) { c.Networks[0].VNI = 0 }, []string{"networks[0].vni: must be 1..16777215"}},
		{"VNI too big", func(c *Config) { c.Networks[0].VNI = 16777216 }, []string{"networks[0].vni: must be 1..16777215"}},
		{"VNI too big in routed mode", func(c *Config) { c.Mode = ModeRouted; c.Networks[0].VNI = 16777216 }, []string{"networks[0].vni: must be 1..16777215"}},
		{"VNI duplicate", func(c *Config) { c.Networks[1].VNI = 100 }, []string{"networks[1].vni: 100 is a duplicate of networks[0]"}},

		{"subnet empty", func(c *Config) { c.Networks[0].Subnet = "" }, []string{"networks[0].subnet: must be set"}},
		{"subnet not a CIDR", func(c *Config) { c.Networks[0].Subnet = "10.244.0.0" }, []string{`networks[0].subnet: must be a CIDR prefix like 10.244.0.0/16, got "10.244.0.0"`}},
		{"subnet IPv6", func(c *Config) { c.Networks[0].Subnet = "fd00::/64" }, []string{"networks[0].subnet: fd00::/64: only IPv4 is supported"}},
		{"subnet with host bits", func(c *Config) { c.Networks[0].Subnet = "10.244.1.0/16" }, []string{"networks[0].subnet: 10.244.1.0/16 has host bits set (did you mean 10.244.0.0/16?)"}},
		{"subnet too small", func(c *Config) {
			c.Networks[0].Subnet, c.Networks[0].Block = "10.244.0.0/31", "10.244.0.0/31"
		}, []string{"networks[0].subnet: 10.244.0.0/31 is too small for a gateway and pods (at most /30)"}},
		{"subnets overlap", func(c *Config) {
			c.Networks[1].Subnet, c.Networks[1].Gateway, c.Networks[1].Block = "10.244.128.0/17", "10.244.128.1", "10.244.128.0/24"
		}, []string{"networks[1].subnet: 10.244.128.0/17 overlaps networks[0].subnet 10.244.0.0/16"}},

		{"gateway empty", func(c *Config) { c.Networks[0].Gateway = "" }, []string{"networks[0].gateway: must be set"}},
		{"gateway not an IP", func(c *Config) { c.Networks[0].Gateway = "10.244.0.1/16" }, []string{`networks[0].gateway: must be an IP address, got "10.244.0.1/16"`}},
		{"gateway outside subnet", func(c *Config) { c.Networks[0].Gateway = "10.245.0.1" }, []string{"networks[0].gateway: 10.245.0.1 is outside subnet 10.244.0.0/16"}},
		{"gateway IPv6", func(c *Config) { c.Networks[0].Gateway = "fd00::1" }, []string{"networks[0].gateway: fd00::1 is outside subnet 10.244.0.0/16"}},
		{"gateway network address", func(c *Config) { c.Networks[0].Gateway = "10.244.0.0" }, []string{"networks[0].gateway: 10.244.0.0 is the network address of subnet 10.244.0.0/16"}},
		{"gateway broadcast address", func(c *Config) { c.Networks[0].Gateway = "10.244.255.255" }, []string{"networks[0].gateway: 10.244.255.255 is the broadcast address of subnet 10.244.0.0/16"}},

		{"block empty", func(c *Config) { c.Networks[0].Block = "" }, []string{"networks[0].block: must be set"}},
		{"block not a CIDR", func(c *Config) { c.Networks[0].Block = "10.244.1.0/33" }, []string{`networks[0].block: must be a CIDR prefix like 10.244.0.0/16, got "10.244.1.0/33"`}},
		{"block with host bits", func(c *Config) { c.Networks[0].Block = "10.244.1.1/24" }, []string{"networks[0].block: 10.244.1.1/24 has host bits set (did you mean 10.244.1.0/24?)"}},
		{"block outside subnet", func(c *Config) { c.Networks[0].Block = "10.245.1.0/24" }, []string{"networks[0].block: 10.245.1.0/24 is outside subnet 10.244.0.0/16"}},
		{"block bigger than subnet", func(c *Config) { c.Networks[0].Block = "10.244.0.0/15" }, []string{"networks[0].block: 10.244.0.0/15 is outside subnet 10.244.0.0/16"}},
		{"blocks overlap", func(c *Config) {
			// Two networks sharing a subnet would also overlap there.
			c.Networks[1].Subnet, c.Networks[1].Gateway, c.Networks[1].Block = "10.96.0.0/16", "10.96.0.1", "10.96.0.0/24"
			c.Networks[0].Subnet, c.Networks[0].Gateway, c.Networks[0].Block = "10.97.0.0/16", "10.97.0.1", "10.97.0.0/24"
			c.Networks = append(c.Networks, Network{Name: "c", VNI: 3, Subnet: "10.98.0.0/16", Gateway: "10.98.0.1", Block: "10.98.0.0/24"})
			c.Networks[2].Subnet, c.Networks[2].Block = "10.96.0.0/16", "10.96.0.128/25"
			c.Networks[2].Gateway = "10.96.0.1"
		}, []string{
			"networks[2].subnet: 10.96.0.0/16 overlaps networks[1].subnet 10.96.0.0/16",
			"networks[2].block: 10.96.0.128/25 overlaps networks[1].block 10.96.0.0/24",
		}},
		{"MTU too small", func(c *Config) { c.Networks[1].MTU = 575 }, []string{"networks[1].mtu: must be 576..9000, got 575"}},
		{"MTU too big", func(c *Config) { c.Networks[1].MTU = 9001 }, []string{"networks[1].mtu: must be 576..9000, got 9001"}},
		{"MTU negative", func(c *Config) { c.Networks[1].MTU = -1 }, []string{"networks[1].mtu: must be 576..9000, got -1"}},

		{"relative state dir", func(c *Config) { c.StateDir = "var/lib/vxbgp" }, []string{`stateDir: must be an absolute path, got "var/lib/vxbgp"`}},
		{"empty state dir", func(c *Config) { c.StateDir = "" }, []string{`stateDir: must be an absolute path, got ""`}},
		{"relative socket", func(c *Config) { c.API.Socket = "vxbgp.sock" }, []string{`api.socket: must be an absolute path, got "vxbgp.sock"`}},
		{"socket path too long", func(c *Config) { c.API.Socket = "/" + strings.Repeat("s", 107) }, []string{"api.socket: is 108 bytes long, more than a unix socket path can hold (107)"}},
		{"metrics without port", func(c *Config) { c.Metrics.Listen = "127.0.0.1" }, []string{`metrics.listen: must be host:port, got "127.0.0.1"`}},
		{"metrics with a bad port", func(c *Config) { c.Metrics.Listen = "127.0.0.1:http" }, []string{`metrics.listen: port must be 0..65535, got "http"`}},
		{"metrics port too big", func(c *Config) { c.Metrics.Listen = ":65536" }, []string{`metrics.listen: port must be 0..65535, got "65536"`}},
		{"log level", func(c *Config) { c.LogLevel = "verbose" }, []string{`logLevel: must be debug, info, warn or error, got "verbose"`}},
		{"empty log level", func(c *Config) { c.LogLevel = "" }, []string{`logLevel: must be debug, info, warn or error, got ""`}},
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

// TestValidateAll: one call reports every problem, each a *FieldError, in
// the order of the file.
func TestValidateAll(t *testing.T) {
	c := valid()
	c.Mode = "l3"
	c.BGP.ASN = 0
	c.BGP.Peers[0].Address = "10.0.0.1"
	c.Networks[0].VNI = 0
	c.Networks[0].Block = "10.245.1.0/24"
	c.Networks[1].Name = "Infra"
	c.API.Socket = "run/vxbgp.sock"
	c.LogLevel = "loud"
	err := c.Validate()
	want := []string{
		`mode: must be "overlay" or "routed", got "l3"`,
		"bgp.asn: must be set (1..4294967295)",
		"bgp.peers[0].address: 10.0.0.1 is this host's own underlay.address",
		"networks[0].vni: must be 1..16777215",
		"networks[0].block: 10.245.1.0/24 is outside subnet 10.244.0.0/16",
		`networks[1].name: must be lowercase letters, digits and '-', got "Infra"`,
		`api.socket: must be an absolute path, got "run/vxbgp.sock"`,
		`logLevel: must be debug, info, warn or error, got "loud"`,
	}
	if got := messages(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("Validate problems:\n got %q\nwant %q", got, want)
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Validate().Error() = %q, want one line per problem", got)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "mode" {
		t.Errorf("errors.As(*FieldError) = %+v, want the mode problem first", fe)
	}
}
