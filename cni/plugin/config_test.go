package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vxbgp/vxbgp/ipam"
)

func TestParseConf(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    NetConf // checked fields: Network, Socket, MTU, StateDir
		wantErr string  // in a code 7 message
	}{
		{
			name: "defaults",
			in:   `{"cniVersion":"1.1.0","name":"k8s","type":"vxbgp-cni"}`,
			want: NetConf{Socket: DefaultSocket, StateDir: DefaultStateDir},
		},
		{
			name: "every key",
			in:   `{"cniVersion":"1.1.0","name":"k8s","type":"vxbgp-cni","network":"pods","socket":"/s.sock","mtu":1400,"stateDir":"/state","unknownKey":1}`,
			want: NetConf{Network: "pods", Socket: "/s.sock", MTU: 1400, StateDir: "/state"},
		},
		{name: "mtu as string", in: `{"cniVersion":"1.1.0","mtu":"1400"}`, wantErr: `key "mtu": got a JSON string, want a number`},
		{name: "mtu too big", in: `{"cniVersion":"1.1.0","mtu":70000}`, wantErr: `key "mtu": 70000: must be 68..65535`},
		{name: "network not a string", in: `{"cniVersion":"1.1.0","network":5}`, wantErr: `key "network"`},
		{name: "bad network name", in: `{"cniVersion":"1.1.0","network":"a/b"}`, wantErr: `key "network": "a/b"`},
		{name: "relative stateDir", in: `{"cniVersion":"1.1.0","stateDir":"state"}`, wantErr: `key "stateDir": "state": must be an absolute path`},
		{name: "bad prevResult", in: `{"cniVersion":"1.1.0","prevResult":{"ips":"nope"}}`, wantErr: `key "prevResult"`},
		{name: "not JSON", in: `{"cniVersion":`, wantErr: "parse network config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConf([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if Code(err) != types.ErrInvalidNetworkConfig {
					t.Errorf("code = %d, want 7", Code(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Network != tt.want.Network || c.Socket != tt.want.Socket || c.MTU != tt.want.MTU || c.StateDir != tt.want.StateDir {
				t.Errorf("conf = %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestParseConfPrevResult(t *testing.T) {
	c, err := ParseConf([]byte(`{"cniVersion":"1.0.0","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.244.1.5/16"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.PrevResult == nil {
		t.Fatal("prevResult not parsed")
	}
}

func TestLookupNetwork(t *testing.T) {
	pods := ipam.NetworkInfo{Name: "pods", VNI: 100, Bridge: "vxbr100"}
	pods.Pools = testNetwork().Pools
	other := pods
	other.Name, other.VNI, other.Bridge = "other", 200, "vxbr200"

	tests := []struct {
		name    string
		nets    []ipam.NetworkInfo // nil: no networks.json
		raw     string             // written instead, when set
		network string
		want    string // network name
		wantErr string // in a code 7 message
	}{
		{name: "default is the first", nets: []ipam.NetworkInfo{pods, other}, want: "pods"},
		{name: "by name", nets: []ipam.NetworkInfo{pods, other}, network: "other", want: "other"},
		{name: "unknown", nets: []ipam.NetworkInfo{pods, other}, network: "nope", wantErr: `key "network": "nope" is not in`},
		{name: "no networks", nets: []ipam.NetworkInfo{}, wantErr: `key "network": not set, and`},
		{name: "no file", wantErr: `key "stateDir"`},
		{name: "corrupt file", raw: `{"networks":[{"name":"pods"}]}`, wantErr: `key "stateDir": read networks`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			switch {
			case tt.raw != "":
				if err := os.WriteFile(filepath.Join(dir, ipam.NetworksFile), []byte(tt.raw), 0o644); err != nil {
					t.Fatal(err)
				}
			case tt.nets != nil:
				if err := ipam.WriteNetworks(dir, tt.nets); err != nil {
					t.Fatal(err)
				}
			}
			c := &NetConf{Network: tt.network, StateDir: dir}
			n, err := c.LookupNetwork()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if Code(err) != types.ErrInvalidNetworkConfig {
					t.Errorf("code = %d, want 7", Code(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Name != tt.want {
				t.Errorf("network %q, want %q", n.Name, tt.want)
			}
		})
	}
}
