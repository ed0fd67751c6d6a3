package members

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/hashicorp/memberlist"
	"github.com/vxbgp/vxbgp/control/config"
)

// Meta is what a member announces: everything another host needs to peer
// with it and to tell its blocks from ours.
type Meta struct {
	Name   string         // node name, unique in the cluster
	Addr   netip.Addr     // underlay address: VTEP, BGP address and gossip address
	ASN    uint32         // BGP ASN: members with ours are iBGP peers
	Mode   string         // config.ModeOverlay or config.ModeRouted
	Blocks []netip.Prefix // the host's pod blocks, IPv4 and IPv6
	// Reflector: the host is a route reflector (bgp.routeReflector):
	// the hosts with bgp.mesh off peer with it (control/peer's Role).
	Reflector bool
}

// metaVersion is the "v" of the wire format. A member announcing another
// version is ignored (and counted as bad metadata): a new version is for
// an incompatible change; fields added to version 1 are ignored by older
// agents, as encoding/json does.
const metaVersion = 1

// wireMeta is Meta as announced: JSON, so that logs and packet captures
// stay readable. Memberlist's 512 bytes hold 19 IPv4 blocks even with a
// 63-character node name, more than hosts have networks.
type wireMeta struct {
	V       int            `json:"v"`
	Name    string         `json:"name"`
	Addr    netip.Addr     `json:"addr"`
	ASN     uint32         `json:"asn"`
	Mode    string         `json:"mode"`
	Blocks  []netip.Prefix `json:"blocks,omitempty"`
	Leaving bool           `json:"leaving,omitempty"` // see Discovery.Leave
	// Reflector was added within version 1: an older agent ignores it
	// and meshes with everybody, as it did.
	Reflector bool `json:"reflector,omitempty"`
}

// encode returns m as announced. leaving marks a deliberate departure.
func (m Meta) encode(leaving bool) []byte {
	// Marshal cannot fail: every field is a plain value or a TextMarshaler
	// that never errors.
	b, _ := json.Marshal(wireMeta{V: metaVersion, Name: m.Name, Addr: m.Addr, ASN: m.ASN,
		Mode: m.Mode, Blocks: m.Blocks, Leaving: leaving, Reflector: m.Reflector})
	return b
}

// checkSize refuses a Meta that memberlist could not announce. Memberlist
// itself would fail at Create, or worse, on a later update, with a message
// that does not say which of our fields is too big.
func (m Meta) checkSize() error {
	if n := len(m.encode(true)); n > memberlist.MetaMaxSize {
		return fmt.Errorf("member %s: metadata is %d bytes, more than memberlist's limit of %d (%d blocks: fewer networks per host, please)",
			m.Name, n, memberlist.MetaMaxSize, len(m.Blocks))
	}
	return nil
}

// decodeMeta parses and validates what a member announced.
func decodeMeta(b []byte) (Meta, bool, error) {
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, false, fmt.Errorf("metadata does not decode: %w", err)
	}
	if w.V != metaVersion {
		return Meta{}, false, fmt.Errorf("metadata version %d, want %d", w.V, metaVersion)
	}
	m := Meta{Name: w.Name, Addr: w.Addr, ASN: w.ASN, Mode: w.Mode, Blocks: w.Blocks, Reflector: w.Reflector}
	return m, w.Leaving, m.validate()
}

var errNoName = errors.New("no node name")

// validate checks what every member, ourselves included, must announce.
func (m Meta) validate() error {
	if m.Name == "" {
		return errNoName
	}
	a := m.Addr
	if !a.IsValid() || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("address %q is not a unicast address", a)
	}
	if m.ASN == 0 {
		return errors.New("ASN 0")
	}
	if m.Mode != config.ModeOverlay && m.Mode != config.ModeRouted {
		return fmt.Errorf("unknown mode %q", m.Mode)
	}
	for _, p := range m.Blocks {
		if !p.IsValid() || p.Addr().Is4In6() || p != p.Masked() {
			return fmt.Errorf("block %s is not a prefix without host bits", p)
		}
	}
	return nil
}

// overlap returns the first of theirs that overlaps one of ours.
func overlap(ours, theirs []netip.Prefix) (mine, their netip.Prefix, ok bool) {
	for _, t := range theirs {
		for _, o := range ours {
			if o.Overlaps(t) {
				return o, t, true
			}
		}
	}
	return netip.Prefix{}, netip.Prefix{}, false
}

func (m Meta) clone() Meta {
	m.Blocks = append([]netip.Prefix(nil), m.Blocks...)
	return m
}
