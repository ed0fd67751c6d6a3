package bgp

import (
	"testing"

	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// offers reads the families out of a peer's OPEN capabilities; an OPEN
// without multiprotocol capabilities carries IPv4 unicast only.
func TestOffers(t *testing.T) {
	mp := func(rfs ...bgppkt.RouteFamily) []bgppkt.ParameterCapabilityInterface {
		caps := []bgppkt.ParameterCapabilityInterface{bgppkt.NewCapRouteRefresh()}
		for _, rf := range rfs {
			caps = append(caps, bgppkt.NewCapMultiProtocol(rf))
		}
		return caps
	}
	for _, tt := range []struct {
		name string
		caps []bgppkt.ParameterCapabilityInterface
		rf   bgppkt.RouteFamily
		want bool
	}{
		{"evpn only, asked evpn", mp(bgppkt.RF_EVPN), bgppkt.RF_EVPN, true},
		{"evpn only, asked ipv4", mp(bgppkt.RF_EVPN), bgppkt.RF_IPv4_UC, false},
		{"both, asked ipv4", mp(bgppkt.RF_EVPN, bgppkt.RF_IPv4_UC), bgppkt.RF_IPv4_UC, true},
		{"no mp, asked ipv4", mp(), bgppkt.RF_IPv4_UC, true},
		{"no mp, asked evpn", mp(), bgppkt.RF_EVPN, false},
		{"ipv4, asked ipv6", mp(bgppkt.RF_IPv4_UC), bgppkt.RF_IPv6_UC, false},
	} {
		if got := offers(tt.caps, tt.rf); got != tt.want {
			t.Errorf("%s: offers %v, want %v", tt.name, got, tt.want)
		}
	}
}
