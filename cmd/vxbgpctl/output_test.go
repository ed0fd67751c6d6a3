package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// rich has what the later fields carry: per-family counts, last errors,
// EVPN details, a full-length container ID.
var rich = &fakeBackend{
	status: localapi.Status{
		NodeName: "host-a", Mode: "overlay", ASN: 64512, RouterID: "10.0.0.1", VTEP: "10.0.0.1",
		Networks: 2, Peers: 2, PeersEstablished: 1, Endpoints: 2, RoutesReceived: 3, RoutesAdvertised: 2,
		FDBEntries: 1, FloodEntries: 1, NeighEntries: 1, Synced: true, UptimeSeconds: 60, Version: "v0.2.0",
		LastError: "set fdb 02:00:00:00:00:02 dst 10.0.0.2 dev vx100: no such device",
		Families: []localapi.FamilyCount{
			{Family: localapi.FamilyIPv4, Received: 1, Advertised: 1},
			{Family: localapi.FamilyEVPN, Received: 2, Advertised: 1},
		},
	},
	peers: []localapi.Peer{
		{Address: "10.0.0.2", ASN: 64512, State: "established", UptimeSeconds: 65, Received: 3, Accepted: 3, Source: "static", Advertised: 3,
			Families: []localapi.PeerFamily{
				{Family: localapi.FamilyIPv4, Received: 1, Accepted: 1, Advertised: 1},
				{Family: localapi.FamilyEVPN, Received: 2, Accepted: 2, Advertised: 2},
			}},
		{Address: "fd00::254", ASN: 65000, State: "active", Source: "discovered", LastError: "hold timer expired"},
	},
	routes: []localapi.Route{
		{Type: "type-2", RD: "10.0.0.2:1", MAC: "02:00:00:00:00:02", IP: "10.244.2.5", VNI: 100, NextHop: "10.0.0.2", Source: "10.0.0.2", Best: true, Label: 100, Seq: 2},
		{Type: "type-2", RD: "10.0.0.2:2", MAC: "02:00:00:00:00:03", VNI: 200, NextHop: "10.0.0.2", Source: "10.0.0.2", Best: true, Label: 200, Sticky: true},
		{Type: "type-3", RD: "10.0.0.1:1", IP: "10.0.0.1", VNI: 100, NextHop: "10.0.0.1", Source: "local", Best: true, Label: 100},
		{Type: "ipv4", IP: "10.244.1.0/24", NextHop: "10.0.0.1", Source: "local", Best: true},
		{Type: "ipv6", IP: "fd00:244:2::/64", NextHop: "fd00::2", Source: "fd00::2"},
	},
	endpoints: []localapi.Endpoint{
		{ContainerID: "3f4e5d6c7b8a9f0e1d2c3b4a5968778695a4b3c2d1e0f9e8d7c6b5a49382716", IfName: "eth0", Network: "pods", HostIf: "vxh3f4e5d6c",
			MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5"}, Netns: "/var/run/netns/cni-1"},
		{ContainerID: "short", IfName: "net1", Network: "infra", MAC: "02:00:00:00:00:09", IPs: []string{"10.245.1.5"}, Chained: true},
	},
	members: []localapi.Member{
		{NodeName: "host-a", Address: "10.0.0.1", ASN: 64512, Mode: "overlay", State: "alive", SinceSeconds: 60, Self: true, Blocks: []string{"10.244.1.0/24"}},
		{NodeName: "host-b", Address: "10.0.0.2", ASN: 64512, Mode: "routed", Blocks: []string{"10.244.2.0/24", "fd00:244:2::/64"}, State: "alive", SinceSeconds: 50, Reflector: true},
	},
	fdb: []localapi.FDBEntry{
		{Kind: "mac", VNI: 100, Device: "vx100", MAC: "02:00:00:00:00:02", VTEP: "10.0.0.2"},
		{Kind: "flood", VNI: 200, Device: "vx200", MAC: "00:00:00:00:00:00", VTEP: "10.0.0.2"},
		{Kind: "neigh", VNI: 100, Device: "br100", MAC: "02:00:00:00:00:02", IP: "10.244.2.5"},
	},
}

// ctl runs vxbgpctl against socket.
func ctl(socket string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"--socket", socket}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every command in every format: exit 0, nothing on stderr; json and yaml
// hold the same value; wide has at least the table's columns.
func TestEveryFormat(t *testing.T) {
	socks := map[string]string{"rich": serveFake(t, rich), "full": serveFake(t, full), "empty": serveFake(t, &fakeBackend{})}
	for _, name := range []string{"status", "peers", "routes", "endpoints", "members", "fdb", "version"} {
		for fixture, sock := range socks {
			out := map[format]string{}
			for _, f := range []format{formatTable, formatWide, formatJSON, formatYAML} {
				code, stdout, stderr := ctl(sock, name, "-o", string(f))
				if code != 0 || stderr != "" || stdout == "" {
					t.Fatalf("%s %s -o %s: exit %d stderr %q stdout %q", fixture, name, f, code, stderr, stdout)
				}
				out[f] = stdout
			}
			var fromJSON, fromYAML any
			if err := json.Unmarshal([]byte(out[formatJSON]), &fromJSON); err != nil {
				t.Fatalf("%s %s -o json: %v", fixture, name, err)
			}
			if err := yaml.Unmarshal([]byte(out[formatYAML]), &fromYAML); err != nil {
				t.Fatalf("%s %s -o yaml: %v\n%s", fixture, name, err, out[formatYAML])
			}
			if !reflect.DeepEqual(fromJSON, fromYAML) {
				t.Errorf("%s %s: yaml parses to\n%v\njson to\n%v", fixture, name, fromYAML, fromJSON)
			}
			table, wide := strings.Fields(firstLine(out[formatTable])), strings.Fields(firstLine(out[formatWide]))
			if len(wide) < len(table) {
				t.Errorf("%s %s: wide header %v has fewer columns than the table's %v", fixture, name, wide, table)
			}
		}
	}
}

func firstLine(s string) string { line, _, _ := strings.Cut(s, "\n"); return line }

// The tables of what the later fields carry.
func TestWideAndDetails(t *testing.T) {
	sock := serveFake(t, rich)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"status shows the last error and the families", []string{"status"}, `Node:            host-a
Mode:            overlay
Version:         v0.2.0
ASN:             64512
Router ID:       10.0.0.1
VTEP:            10.0.0.1
Networks:        2
Peers:           2 (1 established)
Endpoints:       2
Routes:          3 received, 2 advertised
  ipv4-unicast:  1 received, 1 advertised
  l2vpn-evpn:    2 received, 1 advertised
FDB:             1 MAC, 1 flood, 1 neighbour
Synced:          yes
Last error:      set fdb 02:00:00:00:00:02 dst 10.0.0.2 dev vx100: no such device (retrying; not ready)
Uptime:          1m0s
`},
		{"status json", []string{"status", "-o", "json"}, `{
  "nodeName": "host-a",
  "mode": "overlay",
  "asn": 64512,
  "routerID": "10.0.0.1",
  "vtep": "10.0.0.1",
  "networks": 2,
  "peers": 2,
  "peersEstablished": 1,
  "endpoints": 2,
  "routesReceived": 3,
  "routesAdvertised": 2,
  "fdbEntries": 1,
  "floodEntries": 1,
  "neighEntries": 1,
  "synced": true,
  "ready": false,
  "uptimeSeconds": 60,
  "version": "v0.2.0",
  "lastError": "set fdb 02:00:00:00:00:02 dst 10.0.0.2 dev vx100: no such device",
  "families": [
    {
      "family": "ipv4-unicast",
      "received": 1,
      "advertised": 1
    },
    {
      "family": "l2vpn-evpn",
      "received": 2,
      "advertised": 1
    }
  ]
}
`},
		{"peers", []string{"peers"}, `ADDRESS    ASN    STATE        UPTIME  RECEIVED  ACCEPTED
10.0.0.2   64512  established  1m5s    3         3
fd00::254  65000  active       -       0         0
`},
		{"peers wide shows the families", []string{"peers", "-o", "wide"}, `ADDRESS    ASN    STATE        UPTIME  SOURCE      FAMILY        RECEIVED  ACCEPTED  ADVERTISED  LAST ERROR
10.0.0.2   64512  established  1m5s    static      ipv4-unicast  1         1         1           -
                                                   l2vpn-evpn    2         2         2
fd00::254  65000  active       -       discovered  -             0         0         0           hold timer expired
`},
		{"peers json", []string{"peers", "-o", "json"}, `[
  {
    "address": "10.0.0.2",
    "asn": 64512,
    "state": "established",
    "uptimeSeconds": 65,
    "received": 3,
    "accepted": 3,
    "source": "static",
    "advertised": 3,
    "families": [
      {
        "family": "ipv4-unicast",
        "received": 1,
        "accepted": 1,
        "advertised": 1
      },
      {
        "family": "l2vpn-evpn",
        "received": 2,
        "accepted": 2,
        "advertised": 2
      }
    ]
  },
  {
    "address": "fd00::254",
    "asn": 65000,
    "state": "active",
    "uptimeSeconds": 0,
    "received": 0,
    "accepted": 0,
    "source": "discovered",
    "lastError": "hold timer expired"
  }
]
`},
		{"routes wide", []string{"routes", "-o", "wide"}, `TYPE    RD          MAC                IP               VNI  NEXTHOP   SOURCE    BEST  LABEL  SEQ  STICKY  NLRI
type-2  10.0.0.2:1  02:00:00:00:00:02  10.244.2.5       100  10.0.0.2  10.0.0.2  yes   100    2    no      [2]:[0]:[48]:[02:00:00:00:00:02]:[32]:[10.244.2.5]
type-2  10.0.0.2:2  02:00:00:00:00:03  -                200  10.0.0.2  10.0.0.2  yes   200    0    yes     [2]:[0]:[48]:[02:00:00:00:00:03]
type-3  10.0.0.1:1  -                  10.0.0.1         100  10.0.0.1  local     yes   100    -    no      [3]:[0]:[32]:[10.0.0.1]
ipv4    -           -                  10.244.1.0/24    -    10.0.0.1  local     yes   -      -    no      10.244.1.0/24
ipv6    -           -                  fd00:244:2::/64  -    fd00::2   fd00::2   no    -      -    no      fd00:244:2::/64
`},
		{"endpoints: the table shortens the container ID", []string{"endpoints"}, `CONTAINER     IFNAME  MAC                IP          NETWORK
3f4e5d6c7b8a  eth0    02:00:00:00:00:01  10.244.1.5  pods
short         net1    02:00:00:00:00:09  10.245.1.5  infra
`},
		{"endpoints wide: in full", []string{"endpoints", "-o", "wide"}, `CONTAINER                                                        IFNAME  MAC                IP          NETWORK  HOSTIF       NETNS                 CHAINED
3f4e5d6c7b8a9f0e1d2c3b4a5968778695a4b3c2d1e0f9e8d7c6b5a49382716  eth0    02:00:00:00:00:01  10.244.1.5  pods     vxh3f4e5d6c  /var/run/netns/cni-1  no
short                                                            net1    02:00:00:00:00:09  10.245.1.5  infra    -            -                     yes
`},
		{"members wide", []string{"members", "-o", "wide"}, `NAME                ADDRESS   ASN    MODE     STATE  MASKED  SINCE  BLOCKS
host-a (self)       10.0.0.1  64512  overlay  alive  no      1m0s   10.244.1.0/24
host-b (reflector)  10.0.0.2  64512  routed   alive  no      50s    10.244.2.0/24,fd00:244:2::/64
`},
		{"fdb wide: the table", []string{"fdb", "-o", "wide"}, `KIND   VNI  DEVICE  MAC                IP          VTEP
mac    100  vx100   02:00:00:00:00:02  -           10.0.0.2
flood  200  vx200   00:00:00:00:00:00  -           10.0.0.2
neigh  100  br100   02:00:00:00:00:02  10.244.2.5  -
`},
		{"yaml: kubectl's layout, keys sorted", []string{"fdb", "--vni", "200", "-o", "yaml"}, `- device: vx200
  kind: flood
  mac: "00:00:00:00:00:00"
  vni: 200
  vtep: 10.0.0.2
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := ctl(sock, tc.args...)
			if code != 0 || stderr != "" {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
			}
			if stdout != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", stdout, tc.want)
			}
		})
	}
}

// Each filter, matching and not; JSON, so the test reads what was kept.
func TestFilters(t *testing.T) {
	sock := serveFake(t, rich)
	keys := map[string]func(map[string]any) string{
		"routes":    func(m map[string]any) string { return m["type"].(string) + " " + m["ip"].(string) + m["mac"].(string) },
		"fdb":       func(m map[string]any) string { return m["kind"].(string) + " " + m["device"].(string) },
		"endpoints": func(m map[string]any) string { return m["containerID"].(string) },
	}
	for _, tc := range []struct {
		args []string
		want []string // the kept elements' keys, in order
	}{
		{[]string{"routes", "--vni", "100"}, []string{"type-2 10.244.2.502:00:00:00:00:02", "type-3 10.0.0.1"}},
		{[]string{"routes", "--vni", "300"}, nil},
		{[]string{"routes", "--type", "2"}, []string{"type-2 10.244.2.502:00:00:00:00:02", "type-2 02:00:00:00:00:03"}},
		{[]string{"routes", "--type", "macip", "--vni", "200"}, []string{"type-2 02:00:00:00:00:03"}},
		{[]string{"routes", "--type", "3"}, []string{"type-3 10.0.0.1"}},
		{[]string{"routes", "--type", "unicast"}, []string{"ipv4 10.244.1.0/24", "ipv6 fd00:244:2::/64"}},
		{[]string{"routes", "--type", "ipv6"}, []string{"ipv6 fd00:244:2::/64"}},
		{[]string{"routes", "--type", "unicast", "--vni", "100"}, nil},
		{[]string{"routes", "--peer", "10.0.0.2"}, []string{"type-2 10.244.2.502:00:00:00:00:02", "type-2 02:00:00:00:00:03"}},
		{[]string{"routes", "--peer", "fd00:0::2"}, []string{"ipv6 fd00:244:2::/64"}}, // any spelling
		{[]string{"routes", "--peer", "local"}, []string{"type-3 10.0.0.1", "ipv4 10.244.1.0/24"}},
		{[]string{"routes", "--peer", "10.0.0.9"}, nil},
		{[]string{"fdb", "--vni", "100"}, []string{"mac vx100", "neigh br100"}},
		{[]string{"fdb", "--vni", "16777215"}, nil},
		{[]string{"endpoints", "--network", "infra"}, []string{"short"}},
		{[]string{"endpoints", "--network", "other"}, nil},
	} {
		code, stdout, stderr := ctl(sock, append(tc.args, "-o", "json")...)
		if code != 0 || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr)
			continue
		}
		if tc.want == nil && stdout != "[]\n" {
			t.Errorf("%v: %q, want [] (a list, also when nothing matched)", tc.args, stdout)
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(stdout), &list); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var got []string
		for _, m := range list {
			for _, k := range []string{"ip", "mac"} {
				if _, ok := m[k]; !ok {
					m[k] = ""
				}
			}
			got = append(got, keys[tc.args[0]](m))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: kept %q, want %q", tc.args, got, tc.want)
		}
	}
	// A filter that keeps nothing leaves the table's header.
	if code, stdout, _ := ctl(sock, "routes", "--vni", "300"); code != 0 || stdout != "TYPE  RD  MAC  IP  VNI  NEXTHOP  SOURCE\n" {
		t.Errorf("routes --vni 300: %d %q", code, stdout)
	}
}

// A bad filter value is a usage error naming the flag, found before the
// agent is asked: the socket here does not exist.
func TestBadFilterValues(t *testing.T) {
	missing := t.TempDir() + "/missing.sock"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"routes", "--vni", "0"}, `invalid value "0" for flag -vni: must be a VNI, 1..16777215`},
		{[]string{"routes", "--vni", "16777216"}, `invalid value "16777216" for flag -vni: must be a VNI, 1..16777215`},
		{[]string{"routes", "--vni", "pods"}, `invalid value "pods" for flag -vni: must be a VNI`},
		{[]string{"routes", "--type", "5"}, `invalid value "5" for flag -type: must be 2, 3 or unicast`},
		{[]string{"routes", "--peer", "host-b"}, `invalid value "host-b" for flag -peer: must be an IP address or "local"`},
		{[]string{"routes", "--peer", "fe80::1%eth0"}, `invalid value "fe80::1%eth0" for flag -peer`},
		{[]string{"fdb", "--vni", "-1"}, `invalid value "-1" for flag -vni`},
		{[]string{"endpoints", "--network", "Pods"}, `invalid value "Pods" for flag -network: must be a network name`},
		{[]string{"endpoints", "--network", ""}, `invalid value "" for flag -network`},
		{[]string{"routes", "--vni"}, "flag needs an argument: -vni"},
	} {
		code, stdout, stderr := ctl(missing, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q; want 2 and stderr containing %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
