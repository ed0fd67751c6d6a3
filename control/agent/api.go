package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/view"
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
		LastError:     a.rec.Stats().LastError,
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
	st.CountRoutes(rs)
	return st
}

func (a *agent) Peers(ctx context.Context) ([]localapi.Peer, error) {
	peers, err := a.sp.Peers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.Peer, 0, len(peers))
	for _, p := range peers {
		out = append(out, view.Peer(p, a.peers.SourceOf(p.Address)))
	}
	return out, nil
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
	var ev []evpn.Route
	if a.evpn != nil {
		ev = a.evpn.Routes()
	}
	return view.Routes(ev, a.routed.Routes()), nil
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
