package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// fakeBackend answers every call with fixed data, or with err.
type fakeBackend struct {
	status    localapi.Status
	peers     []localapi.Peer
	routes    []localapi.Route
	endpoints []localapi.Endpoint
	members   []localapi.Member
	fdb       []localapi.FDBEntry
	err       error
}

var _ localapi.Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Status(context.Context) localapi.Status           { return f.status }
func (f *fakeBackend) Peers(context.Context) ([]localapi.Peer, error)   { return f.peers, f.err }
func (f *fakeBackend) Routes(context.Context) ([]localapi.Route, error) { return f.routes, f.err }
func (f *fakeBackend) Endpoints(context.Context) ([]localapi.Endpoint, error) {
	return f.endpoints, f.err
}
func (f *fakeBackend) Members(context.Context) ([]localapi.Member, error) { return f.members, f.err }
func (f *fakeBackend) FDB(context.Context) ([]localapi.FDBEntry, error)   { return f.fdb, f.err }

func (f *fakeBackend) AddEndpoint(context.Context, localapi.Endpoint) error {
	return errors.New("read-only")
}
func (f *fakeBackend) DelEndpoint(context.Context, string, string) error {
	return errors.New("read-only")
}

var full = &fakeBackend{
	status: localapi.Status{
		NodeName: "host-a", Mode: "overlay", ASN: 64512, RouterID: "10.0.0.1", VTEP: "10.0.0.1",
		Networks: 1, Peers: 2, PeersEstablished: 1, Endpoints: 1, RoutesReceived: 4, RoutesAdvertised: 2,
		FDBEntries: 3, FloodEntries: 1, NeighEntries: 2, Synced: true, Ready: true, UptimeSeconds: 3723, Version: "v0.1.0",
	},
	peers: []localapi.Peer{
		{Address: "10.0.0.2", ASN: 64512, State: "established", UptimeSeconds: 65, Received: 3, Accepted: 2, Source: "static"},
		{Address: "10.0.0.254", ASN: 65000, State: "active", Source: "discovered"},
	},
	routes: []localapi.Route{
		{Type: "type-2", RD: "10.0.0.2:1", MAC: "02:00:00:00:00:02", IP: "10.244.2.5", VNI: 100, NextHop: "10.0.0.2", Source: "10.0.0.2", Best: true},
		{Type: "type-3", RD: "10.0.0.1:1", IP: "10.0.0.1", VNI: 100, NextHop: "10.0.0.1", Source: "local", Best: true},
		{Type: "ipv4", IP: "10.244.2.0/24", NextHop: "10.0.0.2", Source: "10.0.0.2"},
	},
	endpoints: []localapi.Endpoint{
		{ContainerID: "3f4e5d6c7b8a", IfName: "eth0", Network: "pods", HostIf: "vxh3f4e5d6c", MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5", "fd00::5"}},
	},
	members: []localapi.Member{
		{NodeName: "host-a", Address: "10.0.0.1", ASN: 64512, Mode: "overlay", State: "alive", SinceSeconds: 3700, Self: true},
		{NodeName: "host-b", Address: "10.0.0.2", ASN: 64512, Mode: "routed", Blocks: []string{"10.244.2.0/24"}, State: "dead", Masked: true, SinceSeconds: 2},
	},
	fdb: []localapi.FDBEntry{
		{Kind: "mac", VNI: 100, Device: "vx100", MAC: "02:00:00:00:00:02", VTEP: "10.0.0.2"},
		{Kind: "flood", VNI: 100, Device: "vx100", MAC: "00:00:00:00:00:00", VTEP: "10.0.0.2"},
		{Kind: "neigh", VNI: 100, Device: "br100", MAC: "02:00:00:00:00:02", IP: "10.244.2.5"},
	},
}

// serveFake serves b through the real Handler on a fresh socket.
func serveFake(t *testing.T, b localapi.Backend) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vxctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "api.sock")
	l, err := localapi.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- localapi.Serve(ctx, l, localapi.Handler(b)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

// TestCommands: every command's table and JSON. The JSON goldens are the
// stable format as it was before wide, yaml, families and last errors
// were added: data without the new fields must print the same bytes.
func TestCommands(t *testing.T) {
	fullSock, emptySock := serveFake(t, full), serveFake(t, &fakeBackend{})
	for _, tc := range []struct {
		name   string
		socket string
		args   []string
		want   string
	}{
		{"status", fullSock, []string{"status"}, `Node:        host-a
Mode:        overlay
Version:     v0.1.0
ASN:         64512
Router ID:   10.0.0.1
VTEP:        10.0.0.1
Networks:    1
Peers:       2 (1 established)
Endpoints:   1
Routes:      4 received, 2 advertised
FDB:         3 MAC, 1 flood, 2 neighbour
Synced:      yes
Last error:  none
Uptime:      1h2m3s
`},
		{"status json", fullSock, []string{"-o", "json", "status"}, `{
  "nodeName": "host-a",
  "mode": "overlay",
  "asn": 64512,
  "routerID": "10.0.0.1",
  "vtep": "10.0.0.1",
  "networks": 1,
  "peers": 2,
  "peersEstablished": 1,
  "endpoints": 1,
  "routesReceived": 4,
  "routesAdvertised": 2,
  "fdbEntries": 3,
  "floodEntries": 1,
  "neighEntries": 2,
  "synced": true,
  "ready": true,
  "uptimeSeconds": 3723,
  "version": "v0.1.0"
}
`},
		{"status, nothing yet", emptySock, []string{"status"}, `Node:        -
Mode:        -
Version:     -
ASN:         0
Router ID:   -
VTEP:        -
Networks:    0
Peers:       0 (0 established)
Endpoints:   0
Routes:      0 received, 0 advertised
FDB:         0 MAC, 0 flood, 0 neighbour
Synced:      no (waiting for every source to report; stale kernel entries are kept)
Last error:  none
Uptime:      -
`},
		{"peers", fullSock, []string{"peers"}, `ADDRESS     ASN    STATE        UPTIME  RECEIVED  ACCEPTED
10.0.0.2    64512  established  1m5s    3         2
10.0.0.254  65000  active       -       0         0
`},
		{"peers json", fullSock, []string{"peers", "-o", "json"}, `[
  {
    "address": "10.0.0.2",
    "asn": 64512,
    "state": "established",
    "uptimeSeconds": 65,
    "received": 3,
    "accepted": 2,
    "source": "static"
  },
  {
    "address": "10.0.0.254",
    "asn": 65000,
    "state": "active",
    "uptimeSeconds": 0,
    "received": 0,
    "accepted": 0,
    "source": "discovered"
  }
]
`},
		{"routes", fullSock, []string{"routes"}, `TYPE    RD          MAC                IP             VNI  NEXTHOP   SOURCE
type-2  10.0.0.2:1  02:00:00:00:00:02  10.244.2.5     100  10.0.0.2  10.0.0.2
type-3  10.0.0.1:1  -                  10.0.0.1       100  10.0.0.1  local
ipv4    -           -                  10.244.2.0/24  -    10.0.0.2  10.0.0.2
`},
		{"routes json", fullSock, []string{"-o=json", "routes"}, `[
  {
    "type": "type-2",
    "rd": "10.0.0.2:1",
    "mac": "02:00:00:00:00:02",
    "ip": "10.244.2.5",
    "vni": 100,
    "nextHop": "10.0.0.2",
    "source": "10.0.0.2",
    "best": true
  },
  {
    "type": "type-3",
    "rd": "10.0.0.1:1",
    "ip": "10.0.0.1",
    "vni": 100,
    "nextHop": "10.0.0.1",
    "source": "local",
    "best": true
  },
  {
    "type": "ipv4",
    "ip": "10.244.2.0/24",
    "nextHop": "10.0.0.2",
    "source": "10.0.0.2",
    "best": false
  }
]
`},
		{"endpoints", fullSock, []string{"endpoints"}, `CONTAINER     IFNAME  MAC                IP                  NETWORK
3f4e5d6c7b8a  eth0    02:00:00:00:00:01  10.244.1.5,fd00::5  pods
`},
		{"endpoints json", fullSock, []string{"endpoints", "-o", "json"}, `[
  {
    "containerID": "3f4e5d6c7b8a",
    "ifName": "eth0",
    "network": "pods",
    "hostIf": "vxh3f4e5d6c",
    "mac": "02:00:00:00:00:01",
    "ips": [
      "10.244.1.5",
      "fd00::5"
    ]
  }
]
`},
		{"members", fullSock, []string{"members"}, `NAME           ADDRESS   ASN    MODE     STATE  MASKED  SINCE
host-a (self)  10.0.0.1  64512  overlay  alive  no      1h1m40s
host-b         10.0.0.2  64512  routed   dead   yes     2s
`},
		{"members json", fullSock, []string{"members", "-o", "json"}, `[
  {
    "nodeName": "host-a",
    "address": "10.0.0.1",
    "asn": 64512,
    "mode": "overlay",
    "state": "alive",
    "masked": false,
    "sinceSeconds": 3700,
    "self": true
  },
  {
    "nodeName": "host-b",
    "address": "10.0.0.2",
    "asn": 64512,
    "mode": "routed",
    "blocks": [
      "10.244.2.0/24"
    ],
    "state": "dead",
    "masked": true,
    "sinceSeconds": 2
  }
]
`},
		{"fdb", fullSock, []string{"fdb"}, `KIND   VNI  DEVICE  MAC                IP          VTEP
mac    100  vx100   02:00:00:00:00:02  -           10.0.0.2
flood  100  vx100   00:00:00:00:00:00  -           10.0.0.2
neigh  100  br100   02:00:00:00:00:02  10.244.2.5  -
`},
		{"fdb json", fullSock, []string{"fdb", "-o", "json"}, `[
  {
    "kind": "mac",
    "vni": 100,
    "device": "vx100",
    "mac": "02:00:00:00:00:02",
    "vtep": "10.0.0.2"
  },
  {
    "kind": "flood",
    "vni": 100,
    "device": "vx100",
    "mac": "00:00:00:00:00:00",
    "vtep": "10.0.0.2"
  },
  {
    "kind": "neigh",
    "vni": 100,
    "device": "br100",
    "mac": "02:00:00:00:00:02",
    "ip": "10.244.2.5"
  }
]
`},
		// Empty lists: the header alone, or [] in JSON.
		{"no peers", emptySock, []string{"peers"}, "ADDRESS  ASN  STATE  UPTIME  RECEIVED  ACCEPTED\n"},
		{"no peers json", emptySock, []string{"peers", "-o", "json"}, "[]\n"},
		{"no routes", emptySock, []string{"routes"}, "TYPE  RD  MAC  IP  VNI  NEXTHOP  SOURCE\n"},
		{"no routes json", emptySock, []string{"routes", "-o", "json"}, "[]\n"},
		{"no endpoints", emptySock, []string{"endpoints"}, "CONTAINER  IFNAME  MAC  IP  NETWORK\n"},
		{"no endpoints json", emptySock, []string{"endpoints", "-o", "json"}, "[]\n"},
		{"no fdb", emptySock, []string{"fdb"}, "KIND  VNI  DEVICE  MAC  IP  VTEP\n"},
		{"no fdb json", emptySock, []string{"fdb", "-o", "json"}, "[]\n"},
		{"discovery off", emptySock, []string{"members"}, "discovery is off (no discovery.join configured): peers are the static bgp.peers only\n"},
		{"discovery off json", emptySock, []string{"members", "-o", "json"}, "[]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"--socket", tc.socket}, tc.args...), &stdout, &stderr)
			if code != 0 || stderr.Len() != 0 {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, &stderr)
			}
			if got := stdout.String(); got != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir, err := os.MkdirTemp("", "vxctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	missing := filepath.Join(dir, "missing.sock")
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	failing := serveFake(t, &fakeBackend{err: errors.New("gobgp: not started")})
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string // substring
	}{
		{"socket missing", []string{"--socket", missing, "status"}, 3, "vxbgpctl: cannot reach vxbgpd at " + missing + ": is it running?\n"},
		{"nobody listening", []string{"--socket", stale, "peers"}, 3, "vxbgpctl: cannot reach vxbgpd at " + stale + ": is it running?\n"},
		{"agent fails", []string{"--socket", failing, "peers"}, 1, "vxbgpctl: vxbgpd answered 500: /v1/peers: gobgp: not started\n"},
		{"no command", []string{"--socket", failing}, 2, "vxbgpctl: no command\nusage: vxbgpctl"},
		{"unknown command", []string{"--socket", failing, "neighbours"}, 2, `vxbgpctl: unknown command "neighbours"`},
		{"bad output", []string{"--socket", failing, "-o", "xml", "status"}, 2, `invalid value "xml" for flag -o: must be table, wide, json or yaml`},
		{"bad output after the command", []string{"--socket", failing, "status", "-o", "tabel"}, 2, `invalid value "tabel" for flag -o: must be table, wide, json or yaml`},
		{"filter of another command", []string{"--socket", failing, "fdb", "--type", "2"}, 2, "flag provided but not defined: -type"},
		{"filter before the command", []string{"--socket", failing, "--vni", "100", "routes"}, 2, "flag provided but not defined: -vni"},
		{"command help", []string{"routes", "-h"}, 0, "usage: vxbgpctl routes [--vni N] [--type 2|3|unicast] [--peer ADDR|local]"},
		{"extra argument", []string{"--socket", failing, "peers", "10.0.0.2"}, 2, `vxbgpctl: unexpected argument "10.0.0.2"`},
		{"unknown flag", []string{"--bogus", "status"}, 2, "flag provided but not defined: -bogus"},
		{"help", []string{"--help"}, 0, "Commands:\n  status"},
		{"help names the exit codes", []string{"-h"}, 0, "Exit codes: 0 ok; 1 the agent answered with an error; 2 bad usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d stderr %q; want %d and stderr containing %q", code, &stderr, tc.wantCode, tc.wantStderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", &stdout)
			}
		})
	}
}

// TestDefaultSocket: without --socket the CLI asks the documented socket.
func TestDefaultSocket(t *testing.T) {
	if _, err := os.Stat("/run/vxbgp/vxbgp.sock"); err == nil {
		t.Skip("a vxbgpd is running here: its answer would not be this test's")
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"status"}, &stdout, &stderr); code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	if want := "vxbgpctl: cannot reach vxbgpd at /run/vxbgp/vxbgp.sock: is it running?\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", &stderr, want)
	}
}
