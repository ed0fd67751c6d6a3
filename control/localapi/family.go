package localapi

import (
	"cmp"
	"slices"
)

// Address family names as the API shows them: FRR's and GoBGP's spelling.
const (
	FamilyEVPN = "l2vpn-evpn"
	FamilyIPv4 = "ipv4-unicast"
	FamilyIPv6 = "ipv6-unicast"
)

// Route types (Route.Type).
const (
	RouteType2 = "type-2" // EVPN MAC/IP advertisement
	RouteType3 = "type-3" // EVPN inclusive multicast: a VTEP in a VNI's flood list
	RouteIPv4  = "ipv4"   // unicast: a block or host route
	RouteIPv6  = "ipv6"
)

// RouteLocal is Route.Source for the routes this host advertises.
const RouteLocal = "local"

// Family is the address family r travels in.
func (r Route) Family() string {
	switch r.Type {
	case RouteIPv4:
		return FamilyIPv4
	case RouteIPv6:
		return FamilyIPv6
	}
	return FamilyEVPN
}

// CountRoutes sets st's route counts from rs, the routes table: a route
// is advertised when its source is local, received otherwise. Families
// lists the families that have routes, sorted.
func (st *Status) CountRoutes(rs []Route) {
	st.RoutesReceived, st.RoutesAdvertised, st.Families = 0, 0, nil
	for _, r := range rs {
		i := slices.IndexFunc(st.Families, func(f FamilyCount) bool { return f.Family == r.Family() })
		if i < 0 {
			i = len(st.Families)
			st.Families = append(st.Families, FamilyCount{Family: r.Family()})
		}
		if r.Source == RouteLocal {
			st.RoutesAdvertised++
			st.Families[i].Advertised++
		} else {
			st.RoutesReceived++
			st.Families[i].Received++
		}
	}
	slices.SortFunc(st.Families, func(a, b FamilyCount) int { return cmp.Compare(a.Family, b.Family) })
}
