// Package view renders the control plane's typed values as the local API's
// types (package localapi): the edge where they become the strings
// `vxbgpctl -o json` prints. It is a package of its own so that localapi,
// which the CNI plugin links, does not pull in GoBGP.
package view

import (
	"cmp"
	"slices"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/routed"
)

// Peer renders one session; source says where the peer came from (static,
// discovered, ...).
func Peer(p bgp.PeerStatus, source string) localapi.Peer {
	out := localapi.Peer{
		Address: p.Address.String(), ASN: p.ASN, State: p.State, UptimeSeconds: int64(p.Uptime.Seconds()),
		Received: p.Received, Accepted: p.Accepted, Source: source, LastError: p.LastError,
	}
	for _, f := range p.Families {
		out.Families = append(out.Families, localapi.PeerFamily{
			Family: f.Family, Received: f.Received, Accepted: f.Accepted, Advertised: f.Advertised,
		})
		out.Advertised += f.Advertised
	}
	slices.SortFunc(out.Families, func(a, b localapi.PeerFamily) int { return cmp.Compare(a.Family, b.Family) })
	return out
}

// Routes renders the routes table: the EVPN routes (sorted by type, VNI,
// MAC, IP, RD, source), then the unicast ones (IPv4 before IPv6, by prefix,
// source, next hop).
func Routes(ev []evpn.Route, unicast []routed.Listed) []localapi.Route {
	rs := make([]localapi.Route, 0, len(ev)+len(unicast))
	for _, r := range ev {
		rs = append(rs, EVPNRoute(r))
	}
	slices.SortFunc(rs, func(a, b localapi.Route) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.VNI, b.VNI), cmp.Compare(a.MAC, b.MAC),
			cmp.Compare(a.IP, b.IP), cmp.Compare(a.RD, b.RD), cmp.Compare(a.Source, b.Source))
	})
	unicast = slices.Clone(unicast)
	slices.SortFunc(unicast, func(a, b routed.Listed) int {
		return cmp.Or(cmp.Compare(a.Prefix.Addr().BitLen(), b.Prefix.Addr().BitLen()), a.Prefix.Addr().Compare(b.Prefix.Addr()),
			cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(source(a.Peer), source(b.Peer)),
			cmp.Compare(a.NextHop.String(), b.NextHop.String()))
	})
	for _, r := range unicast {
		rs = append(rs, UnicastRoute(r))
	}
	return rs
}

// source is a route's source as the API shows it: local or the peer.
func source(peer string) string {
	if peer == "" {
		return localapi.RouteLocal
	}
	return peer
}

// EVPNRoute renders a type-2 or type-3 route. Every route we hold was
// chosen to be programmed, so each is best.
func EVPNRoute(r evpn.Route) localapi.Route {
	out := localapi.Route{Type: r.Kind.String(), RD: r.RD, Source: source(r.Peer), Best: true, Label: r.Label}
	if len(r.VNIs) > 0 {
		out.VNI = r.VNIs[0]
	}
	switch r.Kind {
	case evpn.RouteType2:
		out.MAC = r.MAC.String()
		if r.IP.IsValid() {
			out.IP = r.IP.String()
		}
		out.Seq, out.Sticky = r.Seq, r.Sticky
	case evpn.RouteType3:
		out.IP = r.Originator.String()
	}
	if r.NextHop.IsValid() {
		out.NextHop = r.NextHop.String()
	}
	return out
}

// UnicastRoute renders a block or host route, ours or received.
func UnicastRoute(r routed.Listed) localapi.Route {
	out := localapi.Route{Type: localapi.RouteIPv4, IP: r.Prefix.String(), Source: source(r.Peer), Best: r.Best}
	if r.Prefix.Addr().Is6() {
		out.Type = localapi.RouteIPv6
	}
	if r.NextHop.IsValid() {
		out.NextHop = r.NextHop.String()
	}
	return out
}
