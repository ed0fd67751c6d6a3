package bgp

import (
	"fmt"

	api "github.com/osrg/gobgp/v3/api"
)

// Family names used in PeerConfig.Families, ListPaths and Watch's onEOR.
const (
	FamilyEVPN = "evpn" // l2vpn-evpn (AFI 25, SAFI 70)
	FamilyIPv4 = "ipv4" // ipv4-unicast
	FamilyIPv6 = "ipv6" // ipv6-unicast
)

// The api.Family values are built on demand rather than shared: GoBGP's
// request types hold pointers and nothing stops a caller from mutating them.
func apiFamily(name string) (*api.Family, error) {
	switch name {
	case FamilyEVPN:
		return &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}, nil
	case FamilyIPv4:
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, nil
	case FamilyIPv6:
		return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, nil
	}
	return nil, fmt.Errorf("address family %q: want %s, %s or %s", name, FamilyEVPN, FamilyIPv4, FamilyIPv6)
}

// FamilyName is the inverse of the names above; other families are
// rendered as "afi/safi" so that logs still say what arrived.
func FamilyName(f *api.Family) string {
	switch {
	case f == nil:
		return "unknown"
	case f.Afi == api.Family_AFI_L2VPN && f.Safi == api.Family_SAFI_EVPN:
		return FamilyEVPN
	case f.Afi == api.Family_AFI_IP && f.Safi == api.Family_SAFI_UNICAST:
		return FamilyIPv4
	case f.Afi == api.Family_AFI_IP6 && f.Safi == api.Family_SAFI_UNICAST:
		return FamilyIPv6
	}
	return fmt.Sprintf("%d/%d", f.Afi, f.Safi)
}
