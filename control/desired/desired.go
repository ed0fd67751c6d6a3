// Package desired combines what the sources publish into the one desired
// overlay.State the reconciler gets (see Merger).
package desired

import (
	"maps"
	"net/netip"
	"sync"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay"
)

// Merger combines what the sources publish into the one desired State the
// reconciler gets: whole, once the first time (Target.Set), then as the
// changes (Target.Update) each source's changes make, so that a received
// route costs O(1) here, not O(table). Both modes run the routed plane (each host advertises its
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
// Target is where the merged state goes: overlay.Reconciler.
type Target interface {
	// Set hands over a whole desired state, which the target then owns.
	Set(overlay.State)
	// Update hands over changes to the state last Set (and Updated).
	Update(overlay.Delta)
}

type Merger struct {
	mode string
	to   Target

	// mu is held while a change is handed to the target, so that the
	// target gets them in the order they were made.
	mu      sync.Mutex
	devices []overlay.Device // routed mode: the devices, without VXLAN
	evpn    overlay.State    // overlay mode: the EVPN source's state, ours
	hasEVPN bool
	vteps   map[netip.Addr]int // EVPN FDB and flood entries per VTEP (masked or not)
	routes  map[netip.Prefix]overlay.Route
	merged  map[netip.Prefix]overlay.Route // the routes handed over, as filtered
	masked  map[netip.Addr]bool
	nat     overlay.NAT // from the config: the same in both modes
	started bool        // a whole state was handed over; changes follow as Updates
}

// New returns a Merger for mode (config.ModeOverlay or ModeRouted) that
// hands the merged state to to. devices are the networks' devices of
// routed mode (overlay mode's come from the EVPN source).
func New(mode string, devices []overlay.Device, to Target) *Merger {
	return &Merger{mode: mode, to: to, devices: devices, evpn: overlay.NewState(), vteps: map[netip.Addr]int{}}
}

// SetEVPN replaces the EVPN source's state with s (a copy is kept): a
// whole state, for what has no changes to tell.
func (m *Merger) SetEVPN(s overlay.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evpn = overlay.NewState()
	clear(m.vteps)
	m.applyEVPN(overlay.NewState().DeltaTo(s))
	m.hasEVPN = true
	m.publishLocked()
}

// UpdateEVPN takes the EVPN source's changes (overlay mode); the first
// call's make the source's state as far as the Merger knows.
func (m *Merger) UpdateEVPN(d overlay.Delta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, vtepsChanged := m.applyEVPN(d)
	if !m.hasEVPN || !m.started {
		m.hasEVPN = true
		m.publishLocked()
		return
	}
	if vtepsChanged {
		out.Routes = append(out.Routes, m.mergeRoutes()...)
	}
	m.to.Update(out)
}

// applyEVPN applies the EVPN source's changes to m.evpn and returns the
// changes they make to the merged state, and whether a VTEP came or went
// (which changes which block routes apply).
func (m *Merger) applyEVPN(d overlay.Delta) (out overlay.Delta, vtepsChanged bool) {
	count := func(vtep netip.Addr, n int) {
		c := m.vteps[vtep] + n
		if c <= 0 {
			delete(m.vteps, vtep)
		} else {
			m.vteps[vtep] = c
		}
		if c == 0 || c == n { // gone, or new
			vtepsChanged = true
		}
	}
	out.Devices = d.Devices
	out.Neigh = d.Neigh // a masked host's neighbours stay
	// The changes out are the changes in until one differs (a masked
	// VTEP's entry goes out as a delete): d itself goes on, shared (a
	// Delta is a value), and a copy is made, sized once, from the first
	// difference only. A table taken in is 100,000 changes, and copying
	// them all was 5.6 MB for nothing while no VTEP is masked.
	fdbOut := changesOut(d.FDB)
	floodOut := changesOut(d.Flood)
	// Each change is applied as it is counted: a Delta may change a key
	// twice.
	m.evpn.ApplyDelta(overlay.Delta{Devices: d.Devices, Neigh: d.Neigh})
	for i, c := range d.FDB {
		if old, ok := m.evpn.FDB[c.Key]; ok {
			count(old.VTEP, -1)
		}
		if c.Del {
			delete(m.evpn.FDB, c.Key)
			fdbOut.put(i, overlay.Del[overlay.FDBKey, overlay.FDB](c.Key))
			continue
		}
		m.evpn.FDB[c.Key] = c.Val
		count(c.Val.VTEP, 1)
		if m.masked[c.Val.VTEP] {
			fdbOut.put(i, overlay.Del[overlay.FDBKey, overlay.FDB](c.Val.Key()))
		} else {
			fdbOut.put(i, overlay.Set(c.Val.Key(), c.Val))
		}
	}
	for i, c := range d.Flood {
		if _, ok := m.evpn.Flood[c.Key]; ok {
			count(c.Key.VTEP, -1)
		}
		if c.Del {
			delete(m.evpn.Flood, c.Key)
			floodOut.put(i, overlay.Del[overlay.Flood, struct{}](c.Key))
			continue
		}
		m.evpn.Flood[c.Key] = struct{}{}
		count(c.Key.VTEP, 1)
		if m.masked[c.Key.VTEP] {
			floodOut.put(i, overlay.Del[overlay.Flood, struct{}](c.Key))
		} else {
			floodOut.put(i, overlay.Set(c.Key, struct{}{}))
		}
	}
	out.FDB, out.Flood = fdbOut.result(), floodOut.result()
	return out, vtepsChanged
}

// changes is a list of changes out, one per change in (in[i]), which is
// in itself until put is given a change unlike in's.
type changes[K comparable, V comparable] struct {
	in, out []overlay.Change[K, V]
	copied  bool
}

func changesOut[K comparable, V comparable](in []overlay.Change[K, V]) changes[K, V] {
	return changes[K, V]{in: in}
}

// put makes c the i-th change out; the changes are put in order.
func (l *changes[K, V]) put(i int, c overlay.Change[K, V]) {
	if !l.copied {
		if l.in[i] == c {
			return
		}
		l.out = append(make([]overlay.Change[K, V], 0, len(l.in)), l.in[:i]...)
		l.copied = true
	}
	l.out = append(l.out, c)
}

func (l *changes[K, V]) result() []overlay.Change[K, V] {
	if l.copied {
		return l.out
	}
	return l.in
}

// UpdateRoutes takes the routed source's changes (both modes): O(changes).
func (m *Merger) UpdateRoutes(d overlay.Delta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.routes == nil {
		m.routes = map[netip.Prefix]overlay.Route{}
	}
	var out overlay.Delta
	for _, c := range d.Routes {
		if c.Del {
			delete(m.routes, c.Key)
		} else {
			m.routes[c.Key] = c.Val
		}
		if !m.started {
			continue
		}
		r, ok := m.filterRoute(m.routes[c.Key])
		if !ok {
			if _, had := m.merged[c.Key]; had {
				delete(m.merged, c.Key)
				out.DelRoute(c.Key)
			}
			continue
		}
		if old, had := m.merged[c.Key]; !had || !old.Equal(r) {
			m.merged[c.Key] = r
			out.SetRoute(r)
		}
	}
	if !m.ready() {
		return
	}
	if !m.started {
		m.publishLocked()
		return
	}
	m.to.Update(out)
}

// SetRoutes replaces the routed source's routes with r (a copy is kept):
// a whole table, for what has no changes to tell.
func (m *Merger) SetRoutes(r map[netip.Prefix]overlay.Route) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.routes = maps.Clone(r)
	if !m.ready() {
		return
	}
	if !m.started {
		m.publishLocked()
		return
	}
	m.to.Update(overlay.Delta{Routes: m.mergeRoutes()})
}

// SetMasked takes the addresses of the hosts to keep out of the data path
// (nil: none). It hands over the whole state: it changes rarely.
func (m *Merger) SetMasked(addrs map[netip.Addr]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.masked = addrs
	m.publishLocked()
}

// Publish hands the whole merged state over; routed mode calls it once at
// start (its devices need no source).
func (m *Merger) Publish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publishLocked()
}

// ready reports whether there is a state to hand over: in overlay mode
// not before the EVPN source reported (it carries the devices).
func (m *Merger) ready() bool { return m.mode != config.ModeOverlay || m.hasEVPN }

// publishLocked hands the whole merged state over, if ready; m.mu is held.
func (m *Merger) publishLocked() {
	if !m.ready() {
		return
	}
	s := m.build()
	m.merged = maps.Clone(s.Routes)
	m.started = true
	m.to.Set(s)
}

// build returns the merged state, in fresh maps (the target owns them).
func (m *Merger) build() overlay.State {
	s := overlay.NewState()
	if m.mode == config.ModeOverlay {
		maps.Copy(s.Devices, m.evpn.Devices)
		maps.Copy(s.Neigh, m.evpn.Neigh)
		for k, f := range m.evpn.FDB {
			if !m.masked[f.VTEP] {
				s.FDB[k] = f
			}
		}
		for f := range m.evpn.Flood {
			if !m.masked[f.VTEP] {
				s.Flood[f] = struct{}{}
			}
		}
	} else {
		for _, d := range m.devices {
			s.AddDevice(d)
		}
	}
	s.NAT = m.nat
	s.Routes = m.filterRoutes()
	return s
}

// filterRoutes returns the routes to install: the routed source's, without
// the next hops the rules above exclude, normalised (overlay.NewRoute).
func (m *Merger) filterRoutes() map[netip.Prefix]overlay.Route {
	out := make(map[netip.Prefix]overlay.Route, len(m.routes))
	for _, r := range m.routes {
		if nr, ok := m.filterRoute(r); ok {
			out[nr.Dst] = nr
		}
	}
	return out
}

// filterRoute returns r without the next hops the rules above exclude,
// normalised; ok is false when none is left (or r is the zero Route).
func (m *Merger) filterRoute(r overlay.Route) (_ overlay.Route, ok bool) {
	// A host route (/32, /128) is a chained endpoint of the peer (made by
	// another plugin, e.g. ptp): its MAC is not behind the peer's bridge
	// and it has no type-2, so it is never reachable at L2 and is
	// installed even via an EVPN VTEP. Our bridge answers ARP for it by
	// proxy, and the peer routes it on.
	host := r.Dst.IsSingleIP()
	overlayMode := m.mode == config.ModeOverlay
	var via []netip.Addr
	for _, a := range r.Via {
		if (overlayMode && m.vteps[a] > 0 && !host) || m.masked[a] {
			continue
		}
		via = append(via, a)
	}
	if len(via) == 0 {
		return overlay.Route{}, false
	}
	return overlay.NewRoute(r.Dst, via...), true
}

// mergeRoutes recomputes the routes to install and returns their changes
// since the last hand-over; O(routes), for what changes the routes.
func (m *Merger) mergeRoutes() []overlay.Change[netip.Prefix, overlay.Route] {
	next := m.filterRoutes()
	d := overlay.State{Routes: m.merged}.DeltaTo(overlay.State{Routes: next})
	m.merged = next
	return d.Routes
}
