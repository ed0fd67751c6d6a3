package config

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/overlay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := &Config{
		NodeName: "host-a",
		Mode:     ModeOverlay,
		Underlay: Underlay{Address: "10.0.0.1"},
		BGP: BGP{
			ASN: 64512, RouterID: "10.0.0.1", ListenPort: 179,
			Peers:    []Peer{{Address: "10.0.0.254", ASN: 64512, Port: DefaultPeerPort}},
			HoldTime: DefaultHoldTime, GracefulRestartTime: DefaultGRTime,
		},
		Discovery: Discovery{BindPort: 7946, Join: []string{"10.0.0.2"},
			ProbeInterval: DefaultProbeInterval, ProbeTimeout: DefaultProbeTimeout,
			SuspicionMult: DefaultSuspicionMult, RejoinInterval: DefaultRejoinInterval},
		Networks: []Network{{
			Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24",
		}},
		StateDir: "/var/lib/vxbgp",
		API:      API{Socket: "/run/vxbgp/vxbgp.sock"},
		Metrics:  Metrics{Listen: "127.0.0.1:9642"},
		LogLevel: "info",

		LogFormat: DefaultLogFormat,

		MemoryLimit: DefaultMemoryLimit,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Load of a missing file: %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseDefaults(t *testing.T) {
	host, _ := os.Hostname()
	c, err := Parse([]byte("bgp: {asn: 65000}\nnetworks: [{name: a, vni: 1, subnet: 10.0.0.0/8, gateway: 10.0.0.1, block: 10.0.0.0/24}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"nodeName", c.NodeName, host},
		{"mode", c.Mode, ModeOverlay},
		{"underlay.address", c.Underlay.Address, ""},
		{"bgp.routerID", c.BGP.RouterID, ""},
		{"bgp.listenPort", c.BGP.ListenPort, 179},
		{"bgp.holdTime", c.BGP.HoldTime, uint32(9)},
		{"bgp.gracefulRestartTime", c.BGP.GracefulRestartTime, uint32(120)},
		{"discovery.bindPort", c.Discovery.BindPort, 7946},
		{"discovery.probeInterval", c.Discovery.ProbeInterval, 300 * time.Millisecond},
		{"discovery.probeTimeout", c.Discovery.ProbeTimeout, 150 * time.Millisecond},
		{"discovery.suspicionMult", c.Discovery.SuspicionMult, 2},
		{"discovery.rejoinInterval", c.Discovery.RejoinInterval, 30 * time.Second},
		{"stateDir", c.StateDir, "/var/lib/vxbgp"},
		{"api.socket", c.API.Socket, "/run/vxbgp/vxbgp.sock"},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9642"},
		{"logLevel", c.LogLevel, "info"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want the default %v", tc.key, tc.got, tc.want)
		}
	}
}

// TestParseExplicit checks that explicit values beat the defaults, that a
// null keeps the default and that an explicit zero or "" is kept.
func TestParseExplicit(t *testing.T) {
	c, err := Parse([]byte(`
bgp:
  listenPort: -1
  holdTime: 0
  peers:
    - {address: 10.0.0.9, asn: 1, port: 1179}
    - {address: 10.0.0.8, asn: 1}
  importPrefixes: [0.0.0.0/0, "::/0"]
discovery:
  probeInterval: 1s
  probeTimeout: 250ms
  suspicionMult: 5
  rejoinInterval: 1m30s
api:
  socket:
metrics:
  listen: ""
logLevel: debug
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"bgp.listenPort", c.BGP.ListenPort, -1},
		{"bgp.holdTime", c.BGP.HoldTime, uint32(0)},
		{"bgp.peers[0].port", c.BGP.Peers[0].Port, uint16(1179)},
		{"bgp.peers[1].port", c.BGP.Peers[1].Port, uint16(DefaultPeerPort)},
		{"discovery.probeInterval", c.Discovery.ProbeInterval, time.Second},
		{"discovery.probeTimeout", c.Discovery.ProbeTimeout, 250 * time.Millisecond},
		{"discovery.suspicionMult", c.Discovery.SuspicionMult, 5},
		{"discovery.rejoinInterval", c.Discovery.RejoinInterval, 90 * time.Second},
		{"api.socket", c.API.Socket, DefaultSocket},
		{"metrics.listen", c.Metrics.Listen, ""},
		{"logLevel", c.LogLevel, "debug"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#v, want %#v", tc.key, tc.got, tc.want)
		}
	}
	want := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	if got := c.ImportPrefixes(); !reflect.DeepEqual(got, want) {
		t.Errorf("ImportPrefixes() = %v, want %v", got, want)
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	c, err := Parse([]byte(`
networks:
  - &pods {name: pods, vni: 100, subnet: 10.244.0.0/16, gateway: 10.244.0.1, block: 10.244.1.0/24}
  - <<: *pods
    name: more
    vni: 200
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Network{
		{Name: "pods", VNI: 100, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24"},
		{Name: "more", VNI: 200, Subnet: "10.244.0.0/16", Gateway: "10.244.0.1", Block: "10.244.1.0/24"},
	}
	if !reflect.DeepEqual(c.Networks, want) {
		t.Errorf("networks = %+v, want %+v", c.Networks, want)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n"} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", in, c)
		}
	}
}

// TestParseErrors: every problem is reported, each naming its key path.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string // one problem each, in order
	}{
		{"unknown top-level key", "nodename: a\n", []string{"nodename: unknown key"}},
		{"unknown nested key", "networks:\n  - name: a\n    vnii: 100\n", []string{"networks[0].vnii: unknown key"}},
		{"unknown keys everywhere", "bgp:\n  peers:\n    - {adress: 10.0.0.1}\n  as: 1\napi: {sock: /x}\n",
			[]string{"bgp.peers[0].adress: unknown key", "bgp.as: unknown key", "api.sock: unknown key"}},
		{"duplicate key", "mode: overlay\nmode: routed\n", []string{"mode: duplicate key (first on line 1)"}},
		{"string for a number", "bgp: {asn: many}\n", []string{`bgp.asn: must be an integer 0..4294967295, got "many"`}},
		{"negative uint", "networks: [{vni: -1}]\n", []string{`networks[0].vni: must be an integer 0..4294967295, got "-1"`}},
		{"uint32 overflow", "bgp: {asn: 4294967296}\n", []string{`bgp.asn: must be an integer 0..4294967295, got "4294967296"`}},
		{"uint16 overflow", "bgp: {peers: [{port: 70000}]}\n", []string{`bgp.peers[0].port: must be an integer 0..65535, got "70000"`}},
		{"float for an int", "bgp: {listenPort: 1.5}\n", []string{`bgp.listenPort: must be an integer, got "1.5"`}},
		{"list for a string", "mode: [overlay]\n", []string{"mode: must be a string, got a list"}},
		{"scalar for a list", "networks: pods\n", []string{`networks: must be a list, got "pods"`}},
		{"scalar for a mapping", "bgp: 64512\n", []string{`bgp: must be a mapping of keys, got "64512"`}},
		{"list at top level", "- a\n", []string{"(top level): must be a mapping of keys, got a list"}},
		{"scalar for a list item", "networks: [pods]\n", []string{`networks[0]: must be a mapping of keys, got "pods"`}},
		{"mapping for a list item", "discovery: {join: [{a: b}]}\n", []string{"discovery.join[0]: must be a string, got a mapping"}},
		// A bare number would be nanoseconds to yaml.v3: nobody means that.
		{"duration without unit", "discovery: {probeInterval: 300}\n", []string{`discovery.probeInterval: must be a duration like "300ms" or "2s", got "300"`}},
		{"duration garbage", "discovery: {probeTimeout: fast}\n", []string{`discovery.probeTimeout: must be a duration like "300ms" or "2s", got "fast"`}},
		{"duration as a list", "discovery: {rejoinInterval: [1s]}\n", []string{`discovery.rejoinInterval: must be a duration like "300ms" or "2s", got a list`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if got := messages(err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) problems:\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"bad indentation", "bgp:\n  asn: 1\n peers: []\n", "line 2"},
		{"unclosed flow", "networks: [\n", "line 1"},
		{"tab indentation", "bgp:\n\tasn: 1\n", "line 2"},
		{"second document", "mode: overlay\n---\nmode: routed\n", "line 2: a second document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "malformed YAML: ") {
				t.Errorf("Parse(%q) = %v, want malformed YAML at %q", tc.in, err, tc.want)
			}
		})
	}
}

// messages returns the single problems of err, as text.
func messages(err error) []string {
	var out []string
	for _, e := range Problems(err) {
		out = append(out, e.Error())
	}
	return out
}
