package bgp

import (
	"errors"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"google.golang.org/protobuf/proto"
)

// Path is a route we originate, ready for Advertise. Outside this package
// it is opaque: control/evpn/translate.go builds EVPN paths with NewPath,
// control/routed builds unicast ones with NewUnicast, and no other code
// sees a GoBGP type. Build paths once and keep them: NewPath checks a path
// the way GoBGP will read it, which costs microseconds.
type Path struct {
	key  string    // the destination: family and NLRI bytes
	desc string    // the NLRI as GoBGP prints it, for logs and errors
	add  *api.Path // what AddPath sends
	del  *api.Path // what DeletePath sends
}

// NewPath wraps a GoBGP path. withdraw is what withdraws it, when that
// must differ (nil: p itself): GoBGP checks the MAC mobility sequence of a
// path given to DeletePath too, and refuses one lower than a remote
// claim's, so an EVPN path is withdrawn in its form without the
// community. Both must be for one destination.
func NewPath(p, withdraw *api.Path) (Path, error) {
	desc, err := checkPath(p)
	if err != nil {
		return Path{}, err
	}
	if withdraw == nil {
		withdraw = p
	} else if destKey(withdraw) != destKey(p) {
		return Path{}, fmt.Errorf("path %s: the withdrawal is for another destination", desc)
	}
	return Path{key: destKey(p), desc: desc, add: p, del: withdraw}, nil
}

// NewUnicast is the ipv4 or ipv6 unicast path for prefix (by its family)
// with nextHop, of the same family; host bits are cleared.
func NewUnicast(prefix netip.Prefix, nextHop netip.Addr) (Path, error) {
	if !nextHop.IsValid() || nextHop.IsUnspecified() || nextHop.Zone() != "" {
		return Path{}, fmt.Errorf("unicast %s: next hop %s: not a usable address", prefix, nextHop)
	}
	p, err := unicastPath(prefix, nextHop)
	if err != nil {
		return Path{}, fmt.Errorf("unicast: %w", err)
	}
	return Path{key: destKey(p), desc: prefix.Masked().String(), add: p, del: p}, nil
}

// IsZero reports whether p is the zero Path (built by nothing).
func (p Path) IsZero() bool { return p.add == nil }

// Key identifies p's destination: two paths with one key replace each
// other in the speaker's table.
func (p Path) Key() string { return p.key }

func (p Path) String() string { return p.desc }

// Equal reports whether two paths are the same announcement.
func (p Path) Equal(o Path) bool {
	return p.key == o.key && (p.add == o.add || proto.Equal(p.add, o.add))
}

// destKey is a path's destination: its family and NLRI, byte for byte.
// Paths we build marshal their NLRI deterministically (no maps), so equal
// destinations have equal bytes.
func destKey(p *api.Path) string {
	return FamilyName(p.GetFamily()) + "|" + p.GetNlri().GetTypeUrl() + "|" + string(p.GetNlri().GetValue())
}

// checkPath rejects what GoBGP would misread or crash on. GoBGP converts
// the path on its server goroutine, where a panic (a nil ESI, for one)
// kills the process; converting it here first, under recover, turns that
// into an error. It returns the NLRI's text for messages.
func checkPath(p *api.Path) (desc string, err error) {
	switch {
	case p == nil:
		return "", errors.New("nil path")
	case p.Family == nil:
		return "", errors.New("path without family")
	case p.Nlri == nil:
		return "", errors.New("path without nlri")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed path: %v", r)
		}
	}()
	n, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return "", fmt.Errorf("path nlri: %w", err)
	}
	if _, err := apiutil.GetNativePathAttributes(p); err != nil {
		return "", fmt.Errorf("path %s attributes: %w", n, err)
	}
	return n.String(), nil
}

// GoBGP returns the paths p adds and withdraws with, for tests and for
// control/evpn/translate.go; nothing else should need them.
func (p Path) GoBGP() (add, withdraw *api.Path) { return p.add, p.del }
