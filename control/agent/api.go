package agent

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/routed"
	"github.com/vxbgp/vxbgp/endpoint"
)

// The agent is the local API's backend: the edge where the parts' typed
// values become the API's JSON types and back.
var _ localapi.Backend = (*agent)(nil)

func (a *agent) Status(ctx context.Context) localapi.Status {
	_, fdb, flood, neigh := a.rec.Counts()
	st := localapi.Status{
		NodeName:      a.cfg.NodeName,
		Mode:          a.cfg.Mode,
		ASN:           a.cfg.BGP.ASN,
		RouterID:      a.host.routerID.String(),
		VTEP:          a.host.ul.Addr.String(),
		Networks:      len(a.host.networks),
		Endpoints:     a.reg.Len(),
		FDBEntries:    fdb,
		FloodEntries:  flood,
		NeighEntries:  neigh,
		Synced:        a.rec.Stats().Synced,
		Ready:         a.ready() == nil,
		UptimeSeconds: int64(time.Since(a.started).Seconds()),
		Version:       Version,
	}
	if peers, err := a.sp.Peers(ctx); err == nil {
		st.Peers = len(peers)
		for _, p := range peers {
			if p.Established() {
				st.PeersEstablished++
			}
		}
	}
	rs, _ := a.Routes(ctx)
	for _, r := range rs {
		if r.Source == "local" {
			st.RoutesAdvertised++
		} else {
			st.RoutesReceived++
		}
	}
	return st
}

func (a *agent) Peers(ctx context.Context) ([]localapi.Peer, error) {
	peers, err := a.sp.Peers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.Peer, 0, len(peers))
	for _, p := range peers {
		out = append(out, apiPeer(p, a.peers.SourceOf(p.Address)))
	}
	return out, nil
}

func apiPeer(p bgp.PeerStatus, source string) localapi.Peer {
	return localapi.Peer{
		Address: p.Address.String(), ASN: p.ASN, State: p.State, UptimeSeconds: int64(p.Uptime.Seconds()),
		Received: p.Received, Accepted: p.Accepted, Source: source,
	}
}

// Members lists the discovered hosts; none without discovery.
func (a *agent) Members(ctx context.Context) ([]localapi.Member, error) {
	if a.fleet == nil {
		return []localapi.Member{}, nil
	}
	return a.fleet.Members(), nil
}

// Routes lists the EVPN routes (overlay mode) then the unicast ones.
func (a *agent) Routes(ctx context.Context) ([]localapi.Route, error) {
	var rs []localapi.Route
	if a.evpn != nil {
		for _, r := range a.evpn.Routes() {
			rs = append(rs, apiEVPNRoute(r))
		}
		slices.SortFunc(rs, func(a, b localapi.Route) int {
			return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.VNI, b.VNI), cmp.Compare(a.MAC, b.MAC),
				cmp.Compare(a.IP, b.IP), cmp.Compare(a.RD, b.RD), cmp.Compare(a.Source, b.Source))
		})
	}
	listed := a.routed.Routes()
	slices.SortFunc(listed, func(a, b routed.Listed) int {
		return cmp.Or(cmp.Compare(a.Prefix.Addr().BitLen(), b.Prefix.Addr().BitLen()), a.Prefix.Addr().Compare(b.Prefix.Addr()),
			cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(routeSource(a.Peer), routeSource(b.Peer)),
			cmp.Compare(a.NextHop.String(), b.NextHop.String()))
	})
	for _, r := range listed {
		rs = append(rs, apiUnicastRoute(r))
	}
	return rs, nil
}

// routeSource is a route's source as the API shows it: "local" or the peer.
func routeSource(peer string) string {
	if peer == "" {
		return "local"
	}
	return peer
}

func apiEVPNRoute(r evpn.Route) localapi.Route {
	out := localapi.Route{Type: r.Kind.String(), RD: r.RD, Source: routeSource(r.Peer), Best: true}
	if len(r.VNIs) > 0 {
		out.VNI = r.VNIs[0]
	}
	switch r.Kind {
	case evpn.RouteType2:
		out.MAC = r.MAC.String()
		if r.IP.IsValid() {
			out.IP = r.IP.String()
		}
	case evpn.RouteType3:
		out.IP = r.Originator.String()
	}
	if r.NextHop.IsValid() {
		out.NextHop = r.NextHop.String()
	}
	return out
}

func apiUnicastRoute(r routed.Listed) localapi.Route {
	out := localapi.Route{Type: bgp.FamilyIPv4, IP: r.Prefix.String(), Source: routeSource(r.Peer), Best: r.Best}
	if r.Prefix.Addr().Is6() {
		out.Type = bgp.FamilyIPv6
	}
	if r.NextHop.IsValid() {
		out.NextHop = r.NextHop.String()
	}
	return out
}

func (a *agent) Endpoints(ctx context.Context) ([]localapi.Endpoint, error) {
	eps := a.reg.List()
	out := make([]localapi.Endpoint, 0, len(eps))
	for _, ep := range eps {
		out = append(out, localapi.FromEndpoint(ep))
	}
	return out, nil
}

// FDB lists what the agent programmed, as of the reconciler's last pass.
func (a *agent) FDB(ctx context.Context) ([]localapi.FDBEntry, error) {
	return localapi.FDBEntries(a.rec.Current()), nil
}

// AddEndpoint is the CNI plugin's announcement of a pod it attached (and
// already recorded in the store): parsed here, once.
func (a *agent) AddEndpoint(ctx context.Context, in localapi.Endpoint) error {
	ep, err := in.Parse()
	if err != nil {
		return err
	}
	if ep.Network == "" && len(a.host.networks) > 0 {
		ep.Network = a.host.networks[0].Name // the CNI default: the first network
	}
	if !slices.ContainsFunc(a.host.networks, func(n evpn.Network) bool { return n.Name == ep.Network }) {
		return fmt.Errorf("endpoint network %q: %w", ep.Network, localapi.ErrInvalid)
	}
	a.reg.Put(ep)
	return nil
}

func (a *agent) DelEndpoint(ctx context.Context, containerID, ifName string) error {
	a.reg.Delete(endpoint.Key{ContainerID: containerID, IfName: ifName})
	return nil
}
