package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/control/evpn"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/overlay"
)

// The agent is the local API's backend.
var _ localapi.Backend = (*agent)(nil)

func (a *agent) Status(ctx context.Context) localapi.Status {
	_, fdb, flood, neigh := a.rec.Counts()
	st := localapi.Status{
		NodeName:      a.cfg.NodeName,
		Mode:          a.cfg.Mode,
		ASN:           a.cfg.BGP.ASN,
		RouterID:      a.routerID.String(),
		VTEP:          a.ul.Addr.String(),
		Networks:      len(a.networks),
		FDBEntries:    fdb,
		FloodEntries:  flood,
		NeighEntries:  neigh,
		Synced:        a.rec.Stats().Synced,
		UptimeSeconds: int64(time.Since(a.started).Seconds()),
		Version:       Version,
	}
	a.mu.Lock()
	st.Endpoints = len(a.endpoints)
	a.mu.Unlock()
	if peers, err := a.sp.Peers(ctx); err == nil {
		st.Peers = len(peers)
		for _, p := range peers {
			if p.State == "established" {
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
	for i := range peers {
		peers[i].Source = "static"
	}
	return peers, nil
}

func (a *agent) Members(ctx context.Context) ([]localapi.Member, error) {
	return []localapi.Member{}, nil
}

func (a *agent) Routes(ctx context.Context) ([]localapi.Route, error) {
	var rs []localapi.Route
	if a.src != nil {
		rs = a.src.Routes()
	}
	return append(rs, a.rsrc.Routes()...), nil
}

func (a *agent) Endpoints(ctx context.Context) ([]localapi.Endpoint, error) {
	a.mu.Lock()
	eps := make([]localapi.Endpoint, 0, len(a.endpoints))
	for _, ep := range a.endpoints {
		eps = append(eps, ep)
	}
	a.mu.Unlock()
	slices.SortFunc(eps, func(x, y localapi.Endpoint) int {
		return strings.Compare(x.Key(), y.Key())
	})
	return eps, nil
}

// FDB lists what the agent programmed, as of the reconciler's last pass.
func (a *agent) FDB(ctx context.Context) ([]localapi.FDBEntry, error) {
	return fdbEntries(a.rec.Current()), nil
}

func fdbEntries(s overlay.State) []localapi.FDBEntry {
	dev := func(vni uint32) overlay.Device {
		if d, ok := s.Devices[vni]; ok {
			return d
		}
		return overlay.Device{Bridge: overlay.BridgeName(vni), VXLAN: overlay.VXLANName(vni)}
	}
	var out []localapi.FDBEntry
	for _, f := range s.FDB {
		out = append(out, localapi.FDBEntry{Kind: "mac", VNI: f.VNI, Device: dev(f.VNI).VXLAN, MAC: f.MAC.String(), VTEP: f.VTEP.String()})
	}
	for f := range s.Flood {
		out = append(out, localapi.FDBEntry{Kind: "flood", VNI: f.VNI, Device: dev(f.VNI).VXLAN, MAC: overlay.MAC{}.String(), VTEP: f.VTEP.String()})
	}
	for _, n := range s.Neigh {
		out = append(out, localapi.FDBEntry{Kind: "neigh", VNI: n.VNI, Device: dev(n.VNI).Bridge, MAC: n.MAC.String(), IP: n.IP.String()})
	}
	slices.SortFunc(out, func(x, y localapi.FDBEntry) int {
		return strings.Compare(x.Kind+x.Device+x.MAC+x.IP+x.VTEP, y.Kind+y.Device+y.MAC+y.IP+y.VTEP)
	})
	return out
}

// AddEndpoint is the CNI plugin's announcement of a pod it attached (and
// already recorded in the store).
func (a *agent) AddEndpoint(ctx context.Context, ep localapi.Endpoint) error {
	if ep.ContainerID == "" || ep.IfName == "" || ep.MAC == "" {
		return fmt.Errorf("endpoint needs containerID, ifName and mac: %w", localapi.ErrInvalid)
	}
	if _, err := overlay.ParseMAC(ep.MAC); err != nil {
		return fmt.Errorf("endpoint mac %q: %w: %w", ep.MAC, localapi.ErrInvalid, err)
	}
	if ep.Network == "" && len(a.networks) > 0 {
		ep.Network = a.networks[0].Name // the CNI default: the first network
	}
	if !slices.ContainsFunc(a.networks, func(n evpn.Network) bool { return n.Name == ep.Network }) {
		return fmt.Errorf("endpoint network %q: %w", ep.Network, localapi.ErrInvalid)
	}
	a.putEndpoint(ep)
	return nil
}

func (a *agent) DelEndpoint(ctx context.Context, containerID, ifName string) error {
	a.delEndpoint(localapi.EndpointKey(containerID, ifName))
	return nil
}
