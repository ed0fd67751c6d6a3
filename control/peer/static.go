package peer

import (
	"fmt"

	"github.com/vxbgp/vxbgp/control/config"
)

// StaticOf is the config's bgp.peers as a source. Their passwords are
// already read from their files (config.Resolve).
func StaticOf(peers []config.Peer) Static {
	var out Static
	for _, p := range peers {
		out = append(out, Peer{Address: p.Addr(), ASN: p.ASN, Password: p.Password, Port: p.Port, MaxPrefixes: p.MaxPrefixes,
			RRClient: p.RouteReflectorClient})
	}
	return out
}

// String describes the peer without its password, so that printing a
// Peer (%v, %+v, slog) never shows it.
func (p Peer) String() string {
	md5 := "none"
	if p.Password != "" {
		md5 = "(set)"
	}
	return fmt.Sprintf("{peer %s asn %d port %d md5 %s name %q reflector %t rrClient %t}", p.Address, p.ASN, p.Port, md5, p.Name,
		p.Reflector, p.RRClient)
}
