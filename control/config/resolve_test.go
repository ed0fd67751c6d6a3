package config

import (
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	errNoRoute := errors.New("no default route")
	lookup := func(a string) func() (netip.Addr, error) {
		return func() (netip.Addr, error) { return netip.MustParseAddr(a), nil }
	}
	for _, tc := range []struct {
		name           string
		underlay, id   string // in the config
		lookup         func() (netip.Addr, error)
		wantUL, wantID string
		wantErr        []string
		wantErrIs      error
		peer           string // bgp.peers[0].address
	}{
		{name: "both set", underlay: "10.0.0.1", id: "192.0.2.1", lookup: lookup("10.9.9.9"), wantUL: "10.0.0.1", wantID: "192.0.2.1"},
		{name: "router ID from underlay", underlay: "10.0.0.1", wantUL: "10.0.0.1", wantID: "10.0.0.1"},
		{name: "both from the lookup", lookup: lookup("10.0.0.7"), wantUL: "10.0.0.7", wantID: "10.0.0.7"},
		{name: "mapped lookup answer", lookup: lookup("::ffff:10.0.0.7"), wantUL: "10.0.0.7", wantID: "10.0.0.7"},
		{name: "IPv6 underlay, router ID set", lookup: lookup("fd00::7"), id: "10.0.0.7", wantUL: "fd00::7", wantID: "10.0.0.7"},
		{name: "IPv6 underlay, no router ID", lookup: lookup("fd00::7"), wantUL: "fd00::7",
			wantErr: []string{"bgp.routerID: must be set: underlay.address fd00::7 is not IPv4"}},
		{name: "lookup fails", lookup: func() (netip.Addr, error) { return netip.Addr{}, errNoRoute },
			wantErr: []string{"underlay.address: not set, and no default: no default route"}, wantErrIs: errNoRoute},
		{name: "no lookup", wantErr: []string{"underlay.address: must be set"}},
		{name: "peer is the looked-up address", lookup: lookup("10.0.0.254"), wantUL: "10.0.0.254", wantID: "10.0.0.254",
			wantErr: []string{"bgp.peers[0].address: 10.0.0.254 is this host's own underlay.address"}},
		{name: "invalid underlay", underlay: "eth0", wantUL: "eth0",
			wantErr: []string{`underlay.address: must be an IP address, got "eth0"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			c.Underlay.Address, c.BGP.RouterID = tc.underlay, tc.id
			err := c.Resolve(tc.lookup)
			if got := messages(err); !reflect.DeepEqual(got, tc.wantErr) {
				t.Errorf("Resolve problems:\n got %q\nwant %q", got, tc.wantErr)
			}
			if tc.wantErrIs != nil && !errors.Is(err, tc.wantErrIs) {
				t.Errorf("Resolve error %v does not wrap %v", err, tc.wantErrIs)
			}
			if c.Underlay.Address != tc.wantUL || c.BGP.RouterID != tc.wantID {
				t.Errorf("resolved underlay.address %q bgp.routerID %q, want %q %q",
					c.Underlay.Address, c.BGP.RouterID, tc.wantUL, tc.wantID)
			}
		})
	}
}

func TestApplyMode(t *testing.T) {
	for _, tc := range []struct{ file, flag, want string }{
		{ModeOverlay, "", ModeOverlay},
		{ModeOverlay, ModeRouted, ModeRouted},
		{ModeRouted, ModeOverlay, ModeOverlay},
		{ModeOverlay, "bogus", "bogus"}, // Validate reports it
	} {
		c := valid()
		c.Mode = tc.file
		c.ApplyMode(tc.flag)
		if c.Mode != tc.want {
			t.Errorf("mode %q, --mode %q: got %q, want %q", tc.file, tc.flag, c.Mode, tc.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	c := valid()
	c.BGP.RouterID = "192.0.2.1"
	c.BGP.Peers[0].Address = "::ffff:10.0.0.254"
	if got, want := c.UnderlayAddr(), netip.MustParseAddr("10.0.0.1"); got != want {
		t.Errorf("UnderlayAddr = %v, want %v", got, want)
	}
	if got, want := c.RouterID(), netip.MustParseAddr("192.0.2.1"); got != want {
		t.Errorf("RouterID = %v, want %v", got, want)
	}
	if got, want := c.BGP.Peers[0].Addr(), netip.MustParseAddr("10.0.0.254"); got != want {
		t.Errorf("Peer.Addr = %v, want %v (unmapped)", got, want)
	}
	want := []Pool{{Subnet: netip.MustParsePrefix("10.96.0.0/16"), Block: netip.MustParsePrefix("10.96.0.0/24"), Gateway: netip.MustParseAddr("10.96.255.254")}}
	if got := c.Networks[1].Pools(); !slices.Equal(got, want) {
		t.Errorf("Pools = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{{"", "pods", true}, {"pods", "pods", true}, {"infra-2", "infra-2", true}, {"nope", "", false}} {
		n, ok := c.Network(tc.name)
		if n.Name != tc.want || ok != tc.ok {
			t.Errorf("Network(%q) = %q, %v; want %q, %v", tc.name, n.Name, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in   string
		want slog.Level
	}{{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"WARN", slog.LevelWarn}, {"error", slog.LevelError}, {"bogus", slog.LevelInfo}} {
		c.LogLevel = tc.in
		if got := c.Level(); got != tc.want {
			t.Errorf("Level(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
