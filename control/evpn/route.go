package evpn

// route.go is our model of an EVPN route, with the checks on its values
// that need no GoBGP type; the translate*.go files convert to
// and from GoBGP.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vxbgp/vxbgp/overlay"
)

// RouteKind is the EVPN route type.
type RouteKind uint8

const (
	RouteType2 RouteKind = 2 // MAC/IP advertisement: a MAC (and IP) behind a VTEP
	RouteType3 RouteKind = 3 // inclusive multicast Ethernet tag: a VTEP in a VNI's flood list
)

func (k RouteKind) String() string { return "type-" + strconv.Itoa(int(k)) }

// Route is an EVPN route in our model.
type Route struct {
	Kind RouteKind
	RD   string
	MAC  overlay.MAC // type-2
	IP   netip.Addr  // type-2; invalid for a MAC-only route
	// VNIs are the route targets' local-admin values (24 bits): like FRR's
	// auto-RT import, we match a route to a network on the VNI alone and
	// ignore the RT's AS, which differs between eBGP neighbours.
	VNIs       []uint32
	Label      uint32     // type-2: MPLS label 1 = the VNI (RFC 8365); type-3: the PMSI label
	NextHop    netip.Addr // the VTEP of a type-2
	Originator netip.Addr // the VTEP of a type-3 (its originating router's IP)
	Seq        uint32     // MAC mobility sequence (0 when absent, RFC 7432 15.1)
	Sticky     bool
	Withdraw   bool
	Peer       string // the neighbour it came from; "" for our own paths
	Key        string // "l2vpn-evpn|" + GoBGP's NLRI text: unique per destination
}

// VTEP is where the route's traffic goes: the next hop of a type-2, the
// originator of a type-3 (what FRR uses, RECIPE §7).
func (r Route) VTEP() netip.Addr {
	if r.Kind == RouteType3 {
		return r.Originator
	}
	return r.NextHop
}

var (
	// ErrUnsupported: a well-formed route we do not handle (another family,
	// EVPN types 1, 4, 5, a non-VXLAN encapsulation or PMSI tunnel type).
	ErrUnsupported = errors.New("unsupported route")
	// ErrMalformed: a route that cannot be decoded (including GoBGP's
	// End-of-RIB markers, which carry no NLRI).
	ErrMalformed = errors.New("malformed route")
)

func checkCommon(routerID netip.Addr, vni uint32, vtep netip.Addr) error {
	switch {
	case !routerID.Is4():
		return fmt.Errorf("router id %s: not an IPv4 address", routerID)
	case vni == 0 || vni > maxVNI:
		return fmt.Errorf("vni %d: must be 1..%d", vni, maxVNI)
	case !vtep.IsValid() || vtep.IsUnspecified() || vtep.Is4In6():
		return fmt.Errorf("vtep %s: not a usable address", vtep)
	}
	return nil
}

// addVNI records a route target's VNI. Only the low 24 bits are the VNI:
// RFC 8365 auto-derived RTs (FRR "autort rfc8365-compatible") put a type
// field above them.
func (r *Route) addVNI(localAdmin uint32) {
	vni := localAdmin & maxVNI
	if vni != 0 && !slices.Contains(r.VNIs, vni) {
		r.VNIs = append(r.VNIs, vni)
	}
}
