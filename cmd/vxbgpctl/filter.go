package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/localapi"
)

// Filters select on the client: the agent's lists are whole snapshots of
// at most some thousands of entries, and an agent older than the CLI
// would ignore query parameters it does not know and answer everything,
// which a server-side filter could not tell from a match. Each filter is
// a flag.Value that checks its value when the flag is parsed, so a bad
// value is a usage error (exit 2) naming the flag, before the agent is
// asked anything.

func routeFilter(fs *flag.FlagSet) func(localapi.Route) bool {
	var v vniFilter
	var t typeFilter
	var p peerFilter
	fs.Var(&v, "vni", "only routes of VNI `N` (1..16777215)")
	fs.Var(&t, "type", "only routes of `TYPE`: 2 (macip), 3 (multicast) or unicast (ipv4, ipv6)")
	fs.Var(&p, "peer", "only routes received from the peer at `ADDR` (\"local\": the ones this host advertises)")
	return func(r localapi.Route) bool { return v.keep(r.VNI) && t.keep(r.Type) && p.keep(r.Source) }
}

func fdbFilter(fs *flag.FlagSet) func(localapi.FDBEntry) bool {
	var v vniFilter
	fs.Var(&v, "vni", "only entries of VNI `N` (1..16777215)")
	return func(f localapi.FDBEntry) bool { return v.keep(f.VNI) }
}

func endpointFilter(fs *flag.FlagSet) func(localapi.Endpoint) bool {
	var n networkFilter
	fs.Var(&n, "network", "only endpoints of the network `NAME` (a networks[].name)")
	return func(e localapi.Endpoint) bool { return n == "" || e.Network == string(n) }
}

// vniFilter is --vni; 0 when not given.
type vniFilter uint32

func (v *vniFilter) String() string { return vni(uint32(*v)) }

func (v *vniFilter) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > config.MaxVNI {
		return fmt.Errorf("must be a VNI, 1..%d", config.MaxVNI)
	}
	*v = vniFilter(n)
	return nil
}

func (v vniFilter) keep(n uint32) bool { return v == 0 || n == uint32(v) }

// typeFilter is --type: the route types it selects, nil when not given.
type typeFilter []string

func (t *typeFilter) String() string { return fmt.Sprint([]string(*t)) }

// Set takes our names and FRR's (`show bgp l2vpn evpn route type macip`).
func (t *typeFilter) Set(s string) error {
	switch s {
	case "2", localapi.RouteType2, "macip":
		*t = typeFilter{localapi.RouteType2}
	case "3", localapi.RouteType3, "multicast":
		*t = typeFilter{localapi.RouteType3}
	case "unicast":
		*t = typeFilter{localapi.RouteIPv4, localapi.RouteIPv6}
	case localapi.RouteIPv4, localapi.RouteIPv6:
		*t = typeFilter{s}
	default:
		return errors.New("must be 2, 3 or unicast (or type-2, macip, type-3, multicast, ipv4, ipv6)")
	}
	return nil
}

func (t typeFilter) keep(typ string) bool {
	if t == nil {
		return true
	}
	for _, want := range t {
		if typ == want {
			return true
		}
	}
	return false
}

// peerFilter is --peer: an address, or local; compared as addresses, so
// any spelling of an IPv6 address matches.
type peerFilter struct {
	set, local bool
	addr       netip.Addr
}

func (p *peerFilter) String() string {
	if p.local {
		return localapi.RouteLocal
	}
	if p.addr.IsValid() {
		return p.addr.String()
	}
	return ""
}

func (p *peerFilter) Set(s string) error {
	if s == localapi.RouteLocal {
		*p = peerFilter{set: true, local: true}
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("must be an IP address or %q", localapi.RouteLocal)
	}
	*p = peerFilter{set: true, addr: a.Unmap()}
	return nil
}

func (p peerFilter) keep(source string) bool {
	switch {
	case !p.set:
		return true
	case p.local:
		return source == localapi.RouteLocal
	}
	a, err := netip.ParseAddr(source)
	return err == nil && a.Unmap() == p.addr
}

// networkFilter is --network; "" when not given.
type networkFilter string

func (n *networkFilter) String() string { return string(*n) }

func (n *networkFilter) Set(s string) error {
	if !config.ValidNetworkName(s) {
		return errors.New("must be a network name: lowercase letters, digits and '-'")
	}
	*n = networkFilter(s)
	return nil
}
