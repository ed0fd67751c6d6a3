package view

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/routed"
	"github.com/vxbgp/vxbgp/overlay"
)

func TestPeer(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   bgp.PeerStatus
		want localapi.Peer
	}{
		{"established, families in any order",
			bgp.PeerStatus{Address: netip.MustParseAddr("10.0.0.2"), ASN: 64512, State: "established", Uptime: 65 * time.Second, Received: 3, Accepted: 2,
				Families: []bgp.FamilyStatus{
					{Family: "l2vpn-evpn", Received: 2, Accepted: 1, Advertised: 4},
					{Family: "ipv4-unicast", Received: 1, Accepted: 1, Advertised: 1},
				}},
			localapi.Peer{Address: "10.0.0.2", ASN: 64512, State: "established", UptimeSeconds: 65, Received: 3, Accepted: 2, Source: "static", Advertised: 5,
				Families: []localapi.PeerFamily{
					{Family: "ipv4-unicast", Received: 1, Accepted: 1, Advertised: 1},
					{Family: "l2vpn-evpn", Received: 2, Accepted: 1, Advertised: 4},
				}}},
		{"refused",
			bgp.PeerStatus{Address: netip.MustParseAddr("fd00::254"), ASN: 65000, State: "idle", LastError: "prefix limit 100 of l2vpn-evpn reached"},
			localapi.Peer{Address: "fd00::254", ASN: 65000, State: "idle", Source: "static", LastError: "prefix limit 100 of l2vpn-evpn reached"}},
	} {
		if got := Peer(tc.in, "static"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestRoutes(t *testing.T) {
	mac, err := overlay.ParseMAC("02:00:00:00:00:02")
	if err != nil {
		t.Fatal(err)
	}
	ev := []evpn.Route{
		{Kind: evpn.RouteType3, RD: "10.0.0.1:1", VNIs: []uint32{100}, Label: 100, Originator: netip.MustParseAddr("10.0.0.1")},
		{Kind: evpn.RouteType2, RD: "10.0.0.2:1", MAC: mac, IP: netip.MustParseAddr("10.244.2.5"), VNIs: []uint32{100}, Label: 100,
			NextHop: netip.MustParseAddr("10.0.0.2"), Seq: 3, Sticky: true, Peer: "10.0.0.2"},
	}
	unicast := []routed.Listed{
		{Prefix: netip.MustParsePrefix("fd00:244:2::/64"), NextHop: netip.MustParseAddr("fd00::2"), Peer: "fd00::2"},
		{Prefix: netip.MustParsePrefix("10.244.2.0/24"), NextHop: netip.MustParseAddr("10.0.0.2"), Peer: "10.0.0.2", Best: true},
		{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: netip.MustParseAddr("10.0.0.1"), Best: true},
	}
	want := []localapi.Route{
		{Type: "type-2", RD: "10.0.0.2:1", MAC: "02:00:00:00:00:02", IP: "10.244.2.5", VNI: 100, NextHop: "10.0.0.2", Source: "10.0.0.2", Best: true, Label: 100, Seq: 3, Sticky: true},
		{Type: "type-3", RD: "10.0.0.1:1", IP: "10.0.0.1", VNI: 100, Source: "local", Best: true, Label: 100},
		{Type: "ipv4", IP: "10.244.1.0/24", NextHop: "10.0.0.1", Source: "local", Best: true},
		{Type: "ipv4", IP: "10.244.2.0/24", NextHop: "10.0.0.2", Source: "10.0.0.2", Best: true},
		{Type: "ipv6", IP: "fd00:244:2::/64", NextHop: "fd00::2", Source: "fd00::2"},
	}
	in := slices.Clone(unicast)
	if got := Routes(ev, unicast); !reflect.DeepEqual(got, want) {
		t.Errorf("Routes:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(in, unicast) {
		t.Error("Routes reordered its argument")
	}

	var st localapi.Status
	st.CountRoutes(want)
	wantCounts := []localapi.FamilyCount{{Family: "ipv4-unicast", Received: 1, Advertised: 1}, {Family: "ipv6-unicast", Received: 1}, {Family: "l2vpn-evpn", Received: 1, Advertised: 1}}
	if st.RoutesReceived != 3 || st.RoutesAdvertised != 2 || !reflect.DeepEqual(st.Families, wantCounts) {
		t.Errorf("CountRoutes: %d received %d advertised %+v", st.RoutesReceived, st.RoutesAdvertised, st.Families)
	}
}
