package plugin

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/vxbgp/vxbgp/ipam"
)

var testPool6 = ipam.Pool{
	Subnet:  netip.MustParsePrefix("fd00:10:244::/48"),
	Block:   netip.MustParsePrefix("fd00:10:244:1::/64"),
	Gateway: netip.MustParseAddr("fd00:10:244::1"),
}

func dualStackNetwork() ipam.NetworkInfo {
	n := testNetwork()
	n.Pools = append(n.Pools, testPool6)
	return n
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// TestPodAddrs: each pool's address with the subnet's length and the
// pool's gateway, in pool order; the result lists each with a default
// route of its family.
func TestPodAddrs(t *testing.T) {
	v6only := testNetwork()
	v6only.Pools = []ipam.Pool{testPool6}
	tests := []struct {
		name    string
		n       ipam.NetworkInfo
		ips     []netip.Addr
		want    []string // "address gw gateway route dst"
		missing []string // subnets
	}{
		{"ipv4", testNetwork(), addrs("10.244.1.5"), []string{"10.244.1.5/16 gw 10.244.0.1 route 0.0.0.0/0"}, nil},
		{"dual-stack", dualStackNetwork(), addrs("10.244.1.5", "fd00:10:244:1::5"),
			[]string{"10.244.1.5/16 gw 10.244.0.1 route 0.0.0.0/0", "fd00:10:244:1::5/48 gw fd00:10:244::1 route ::/0"}, nil},
		{"pool order, not address order", dualStackNetwork(), addrs("fd00:10:244:1::5", "10.244.1.5"),
			[]string{"10.244.1.5/16 gw 10.244.0.1 route 0.0.0.0/0", "fd00:10:244:1::5/48 gw fd00:10:244::1 route ::/0"}, nil},
		{"ipv6 only", v6only, addrs("fd00:10:244:1::5"), []string{"fd00:10:244:1::5/48 gw fd00:10:244::1 route ::/0"}, nil},
		{"no ipv6 address", dualStackNetwork(), addrs("10.244.1.5"), []string{"10.244.1.5/16 gw 10.244.0.1 route 0.0.0.0/0"}, []string{"fd00:10:244::/48"}},
		{"address outside every subnet", testNetwork(), addrs("10.99.0.1"), nil, []string{"10.244.0.0/16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing := podAddrs(tt.n, tt.ips)
			ips, routes := resultIPs(got, 1)
			var s []string
			for i, c := range ips {
				if c.Interface == nil || *c.Interface != 1 {
					t.Errorf("result IP %s not on interface 1", c.Address.String())
				}
				s = append(s, fmt.Sprintf("%s gw %s route %s", c.Address.String(), c.Gateway, routes[i].Dst.String()))
				if !routes[i].GW.Equal(c.Gateway) {
					t.Errorf("route %s via %s, want via %s", routes[i].Dst.String(), routes[i].GW, c.Gateway)
				}
			}
			if !slices.Equal(s, tt.want) {
				t.Errorf("got %q, want %q", s, tt.want)
			}
			var m []string
			for _, p := range missing {
				m = append(m, p.Subnet.String())
			}
			if !slices.Equal(m, tt.missing) {
				t.Errorf("missing %q, want %q", m, tt.missing)
			}
			for _, a := range got {
				if a.is6() != (a.addr.IP.To4() == nil) || len(a.addr.IP) != len(a.gw) {
					t.Errorf("%s gw %s: families disagree", a.addr, a.gw)
				}
			}
		})
	}
}

// TestChainedEndpoint: of the previous plugin's result, the pod
// interface's addresses inside the network's first subnet are taken,
// sorted; on a dual-stack network, IPv6 ones are not (yet).
func TestChainedEndpoint(t *testing.T) {
	ipc := func(cidr string, iface int) *types100.IPConfig {
		ip, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return &types100.IPConfig{Interface: &iface, Address: *n}
	}
	ifaces := []*types100.Interface{{Name: "veth0"}, {Name: "eth0", Sandbox: "/run/netns/p", Mac: "02:00:00:00:00:01"}}
	tests := []struct {
		name    string
		n       ipam.NetworkInfo
		ips     []*types100.IPConfig
		want    []netip.Addr
		wantErr string
	}{
		{"ipv4", testNetwork(), []*types100.IPConfig{ipc("10.244.200.10/16", 1)}, addrs("10.244.200.10"), ""},
		{"dual-stack takes ipv4 only", dualStackNetwork(), []*types100.IPConfig{ipc("fd00:10:244:99::1/64", 1), ipc("10.244.200.10/16", 1)}, addrs("10.244.200.10"), ""},
		{"ipv6-only network", func() ipam.NetworkInfo { n := testNetwork(); n.Pools = []ipam.Pool{testPool6}; return n }(),
			[]*types100.IPConfig{ipc("10.244.200.10/16", 1), ipc("fd00:10:244:99::1/64", 1)}, addrs("fd00:10:244:99::1"), ""},
		{"two ipv4, sorted", testNetwork(), []*types100.IPConfig{ipc("10.244.200.11/16", 1), ipc("10.244.200.10/16", 1)}, addrs("10.244.200.10", "10.244.200.11"), ""},
		{"another interface's address", testNetwork(), []*types100.IPConfig{ipc("10.244.200.10/16", 1), ipc("10.244.200.12/16", 0)}, addrs("10.244.200.10"), ""},
		{"none inside", dualStackNetwork(), []*types100.IPConfig{ipc("10.99.0.1/24", 1)}, nil,
			"no address of interface eth0 is inside subnet 10.244.0.0/16 of network pods (it has: 10.99.0.1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &types100.Result{Interfaces: ifaces, IPs: tt.ips}
			pod, hostIf, got, err := chainedEndpoint(res, Attachment{ContainerID: "c", IfName: "eth0"}, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || Code(err) != 7 {
					t.Fatalf("err = %v (code %d), want code 7 containing %q", err, Code(err), tt.wantErr)
				}
				return
			}
			if err != nil || pod.Name != "eth0" || hostIf != "veth0" || !slices.Equal(got, tt.want) {
				t.Errorf("= %v %q %v %v; want eth0 veth0 %v", pod, hostIf, got, err, tt.want)
			}
		})
	}
}
