package overlay

import (
	"errors"
	"fmt"
	"net/netip"
)

// Underlay is the host's fabric-facing interface: the VXLAN devices' local
// address and device, the BGP sessions' source, the next hop of the host's
// blocks. A Dataplane finds it (netlinkdp.Dataplane.Underlay).
type Underlay struct {
	Addr netip.Addr
	// Addr6 is the first global IPv6 address of Dev (link-local, tentative
	// and DAD-failed ones skipped), invalid if it has none: whether that is
	// an error is the caller's to say (RequireAddr6).
	Addr6 netip.Addr
	Dev   string
	MTU   int
}

// Errors of underlay discovery, for errors.Is; the errors returned wrap
// them with the object they concern.
var (
	// ErrNoDefaultRoute: no IPv4 default route leads to a device with a
	// global address, so the underlay address must be configured.
	ErrNoDefaultRoute = errors.New("no IPv4 default route with a global address")
	// ErrAddrNotAssigned: the underlay address is on no interface.
	ErrAddrNotAssigned = errors.New("not assigned to any interface")
	// ErrNoGlobalIPv6: the underlay device has no global IPv6 address.
	ErrNoGlobalIPv6 = errors.New("no global IPv6 address")
)

// NoDefaultRouteError is the error of a host without IPv4 default route
// (or whose default route's device has no global address).
func NoDefaultRouteError() error {
	return fmt.Errorf("%w: set underlay.address", ErrNoDefaultRoute)
}

// AddrNotAssignedError is the error of an underlay address no interface
// holds.
func AddrNotAssignedError(addr netip.Addr) error {
	return fmt.Errorf("underlay.address %s is %w", addr, ErrAddrNotAssigned)
}

// RequireAddr6 returns an error wrapping ErrNoGlobalIPv6 if u has no
// global IPv6 address: routed mode with IPv6 subnets announces its IPv6
// blocks with Addr6 as their next hop. Overlay mode needs none (its IPv6
// pods are reached over EVPN), so Underlay itself does not fail.
func (u Underlay) RequireAddr6() error {
	if u.Addr6.IsValid() {
		return nil
	}
	return fmt.Errorf("underlay %s has %w: routed mode with subnet6 needs one as the next hop of the IPv6 blocks", u.Dev, ErrNoGlobalIPv6)
}
