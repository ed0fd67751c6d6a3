// Package desired combines what the sources publish into the one desired
// overlay.State the reconciler gets (see Merger).
package desired

import (
	"net/netip"
	"slices"
	"sync"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay"
)

// Merger combines the sources' snapshots into the one desired State the
// reconciler gets. Both modes run the routed plane (each host advertises its
// blocks and installs the others' as routes, bridges answer ARP by proxy);
// overlay mode adds the EVPN plane on top. That is what keeps pods talking
// during a rolling mode switch:
//
//   - an overlay host does not install a block route whose next hop is an
//     EVPN VTEP (that peer's pods are reached at L2 over VXLAN), but installs
//     the blocks of routed-mode peers, and answers its pods' ARP for them
//     with the gateway MAC (proxy ARP), so they are routed;
//   - host routes (/32, /128: a peer's chained endpoints) are installed via
//     any next hop, EVPN VTEPs included: they have no L2 path;
//   - a routed host installs every peer's block;
//   - when a peer leaves the EVPN plane, the route to it goes in before its
//     MACs go out (sets before deletes), and the data plane announces the
//     gateway MAC for each removed IP (gratuitous ARP), so pods that cached
//     the old MAC move to the routed path at once.
//
// A masked host (a peer found dead, see control/mask) is taken out of the
// data path without touching BGP: its FDB and flood entries and the next
// hops through its address leave the desired state (a route left with no
// next hop goes); its neighbour entries stay, so that nothing has to be
// learnt again when it is unmasked.
//
// The pod egress NAT (SetNAT) comes from the config and is the same in
// both modes.
//
// A host switched to routed mode keeps its VXLAN device and the entries on
// it until its sources are synced (the reconciler's rule: removing a
// VXLAN device is a delete): until then the peers may still send it
// traffic over VXLAN, and its pods may still use the L2 path.
type Merger struct {
	mode string
	set  func(overlay.State)

	mu      sync.Mutex
	devices []overlay.Device // routed mode: the devices, without VXLAN
	evpn    overlay.State    // overlay mode: the EVPN source's snapshot
	hasEVPN bool
	routes  map[netip.Prefix]overlay.Route
	masked  map[netip.Addr]bool
	nat     overlay.NAT // from the config: the same in both modes
}

// New returns a Merger for mode (config.ModeOverlay or ModeRouted) that
// hands every merged state to set. devices are the networks' devices of
// routed mode (overlay mode's come with the EVPN snapshot).
func New(mode string, devices []overlay.Device, set func(overlay.State)) *Merger {
	return &Merger{mode: mode, set: set, devices: devices}
}

// SetEVPN takes the EVPN source's latest snapshot (overlay mode).
func (m *Merger) SetEVPN(s overlay.State) {
	m.mu.Lock()
	m.evpn, m.hasEVPN = s, true
	m.mu.Unlock()
	m.Publish()
}

// SetRoutes takes the routed source's latest routes (both modes).
func (m *Merger) SetRoutes(r map[netip.Prefix]overlay.Route) {
	m.mu.Lock()
	m.routes = r
	m.mu.Unlock()
	m.Publish()
}

// SetMasked takes the addresses of the hosts to keep out of the data path
// (nil: none).
func (m *Merger) SetMasked(addrs map[netip.Addr]bool) {
	m.mu.Lock()
	m.masked = addrs
	m.mu.Unlock()
	m.Publish()
}

// Publish hands the merged state over; routed mode calls it once at start
// (its devices need no source).
func (m *Merger) Publish() {
	m.mu.Lock()
	s, ok := m.build()
	m.mu.Unlock()
	if ok {
		m.set(s)
	}
}

// build returns the merged state; ok is false while the overlay mode's
// EVPN source has not reported (its snapshot carries the devices).
func (m *Merger) build() (overlay.State, bool) {
	var s overlay.State
	vteps := map[netip.Addr]bool{}
	if m.mode == config.ModeOverlay {
		if !m.hasEVPN {
			return s, false
		}
		// The EVPN snapshot's maps are shared, not copied (100,000 MACs
		// make a copy cost 50 MB): snapshots are never modified once
		// published, by the source, by us or by the reconciler. Only
		// Routes is ours to fill.
		s = m.evpn
		s.Routes = make(map[netip.Prefix]overlay.Route, len(m.routes))
		for f := range s.Flood {
			vteps[f.VTEP] = true
		}
		for _, f := range s.FDB {
			vteps[f.VTEP] = true
		}
		if len(m.masked) > 0 {
			s.FDB, s.Flood = m.unmaskedTunnels(s)
		}
	} else {
		s = overlay.NewState()
		for _, d := range m.devices {
			s.AddDevice(d)
		}
	}
	s.NAT = m.nat // s is a copy of the snapshot's struct: its maps stay shared, NAT is ours
	for _, r := range m.routes {
		// A host route (/32, /128) is a chained endpoint of the peer (made
		// by another plugin, e.g. ptp): its MAC is not behind the peer's
		// bridge and it has no type-2, so it is never reachable at L2 and
		// is installed even via an EVPN VTEP. Our bridge answers ARP for
		// it by proxy, and the peer routes it on.
		host := r.Dst.IsSingleIP()
		via := slices.DeleteFunc(slices.Clone(r.Via), func(a netip.Addr) bool { return (vteps[a] && !host) || m.masked[a] })
		if len(via) == 0 {
			continue
		}
		r.Via = via
		s.AddRoute(r)
	}
	return s, true
}

// unmaskedTunnels returns s's FDB and flood entries without those towards
// a masked VTEP: copies, since the snapshot's maps are shared.
func (m *Merger) unmaskedTunnels(s overlay.State) (map[overlay.FDBKey]overlay.FDB, map[overlay.Flood]struct{}) {
	fdb := make(map[overlay.FDBKey]overlay.FDB, len(s.FDB))
	for k, f := range s.FDB {
		if !m.masked[f.VTEP] {
			fdb[k] = f
		}
	}
	flood := make(map[overlay.Flood]struct{}, len(s.Flood))
	for f := range s.Flood {
		if !m.masked[f.VTEP] {
			flood[f] = struct{}{}
		}
	}
	return fdb, flood
}
