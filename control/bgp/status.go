package bgp

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Per-family session counts (PeerStatus.Families).
//
// Received and Accepted are GoBGP's: the family's Adj-RIB-In, and what
// of it GoBGP did not reject on arrival (an AS loop, our own originator
// ID). Our global import policy runs after that count: GoBGP v3 marks
// only per-neighbour policy rejections in the Adj-RIB-In. For l2vpn-evpn
// the two agree (the policy accepts every EVPN route); a unicast route
// outside the networks' subnets and bgp.importPrefixes is counted
// accepted here although the policy keeps it out of the Loc-RIB, and
// nothing is installed for it. Advertised is ours: GoBGP's
// own count (ListPeer with EnableAdvertised) walks the whole global table
// through the export policy for every peer on its server goroutine, which
// with a 1,000-host fleet's 100,000 routes and as many peers would stall
// BGP for seconds on every scrape, and it counts the End-of-RIB marker as
// a route. Our export policy sends local routes only, every one of them,
// so what an established session carries of a family it negotiated (we
// configured it and the peer's OPEN offered it) is the number of our
// paths of that family in GoBGP, which the speaker counts as it adds and
// deletes them (localPaths).

// familyLabel names a family the way FRR and GoBGP's CLI print it:
// l2vpn-evpn, ipv4-unicast, ipv6-unicast; others as "afi/safi".
func familyLabel(f *api.Family) string {
	switch FamilyName(f) {
	case FamilyEVPN:
		return "l2vpn-evpn"
	case FamilyIPv4:
		return "ipv4-unicast"
	case FamilyIPv6:
		return "ipv6-unicast"
	}
	return FamilyName(f)
}

// families returns the per-family counts of p, sorted by family.
func families(p *api.Peer, local map[string]uint64) []FamilyStatus {
	st := p.GetState()
	var offered []bgppkt.ParameterCapabilityInterface
	established := st.GetSessionState() == api.PeerState_ESTABLISHED
	if established {
		// Undecodable capabilities: nothing is known to be negotiated.
		offered, _ = apiutil.UnmarshalCapabilities(st.GetRemoteCap())
	}
	var out []FamilyStatus
	for _, af := range p.GetAfiSafis() {
		f := af.GetConfig().GetFamily()
		if f == nil {
			f = af.GetState().GetFamily()
		}
		if f == nil {
			continue
		}
		fs := FamilyStatus{Family: familyLabel(f), Received: af.GetState().GetReceived(), Accepted: af.GetState().GetAccepted()}
		if rf, ok := routeFamilies[FamilyName(f)]; ok && established && offers(offered, rf) {
			fs.Advertised = local[FamilyName(f)]
		}
		out = append(out, fs)
	}
	slices.SortFunc(out, func(a, b FamilyStatus) int { return strings.Compare(a.Family, b.Family) })
	return out
}

// localPaths is the set of destinations GoBGP holds a path of ours for,
// kept by addPath and deletePath (Advertise's and AddPath's alike).
type localPaths struct {
	mu   sync.Mutex
	keys map[string]struct{} // Path.Key: the family name, "|", the NLRI bytes
}

func (l *localPaths) put(key string, have bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !have {
		delete(l.keys, key)
		return
	}
	if l.keys == nil {
		l.keys = map[string]struct{}{}
	}
	l.keys[key] = struct{}{}
}

// byFamily counts them by family name (FamilyEVPN, FamilyIPv4, FamilyIPv6).
func (l *localPaths) byFamily() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]uint64{}
	for k := range l.keys {
		fam, _, _ := strings.Cut(k, "|")
		out[fam]++
	}
	return out
}

// notificationText renders a NOTIFICATION's code and subcode as GoBGP's
// log does, e.g. "code 2(open) subcode 2(bad peer as)"; a Hard Reset
// (RFC 8538: Cease subcode 9, the data holding the reason's code and
// subcode) with its reason.
func notificationText(code, subcode uint8, data []byte) string {
	if code == bgppkt.BGP_ERROR_CEASE && subcode == bgppkt.BGP_ERROR_SUB_HARD_RESET {
		if len(data) >= 2 {
			return "code 6(cease) subcode 9(hard reset) for " + bgppkt.NewNotificationErrorCode(data[0], data[1]).String()
		}
		return "code 6(cease) subcode 9(hard reset)"
	}
	return bgppkt.NewNotificationErrorCode(code, subcode).String()
}

// asUint8 reads a GoBGP log field that holds a code or subcode.
func asUint8(v any) (uint8, bool) {
	switch x := v.(type) {
	case uint8:
		return x, true
	case int:
		return uint8(x), true
	}
	return 0, false
}

// describe renders a log field's value for a last error.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case *bgppkt.MessageError:
		s := notificationText(x.TypeCode, x.SubTypeCode, x.Data)
		if x.Message != "" {
			s += ": " + x.Message
		}
		return s
	}
	return fmt.Sprint(v)
}
