package overlay

import "net/netip"

// Delta is a batch of changes to a desired State: for each key that
// changed, its new value or its removal. Sources publish Deltas rather
// than whole States, so that one received route costs the control plane
// O(1), not O(table): the merger and the reconciler apply a Delta to the
// state they hold (State.ApplyDelta) and look at its keys only.
//
// A Delta is a value: whoever receives it may keep it, the sender must not
// modify it afterwards. A change that sets what is already there, or
// deletes what is not, is harmless (the receivers' states and the
// reconciler's diff make it a no-op). Within a Delta, a later change of a
// key wins over an earlier one.
type Delta struct {
	Devices []Change[uint32, Device]
	FDB     []Change[FDBKey, FDB]
	Flood   []Change[Flood, struct{}]
	Neigh   []Change[NeighKey, Neigh]
	Routes  []Change[netip.Prefix, Route]
}

// Change is one key's new value (Del false) or its removal (Del true; Val
// is then unused).
type Change[K comparable, V any] struct {
	Key K
	Val V
	Del bool
}

// Set and Del make a Change.
func Set[K comparable, V any](k K, v V) Change[K, V] { return Change[K, V]{Key: k, Val: v} }
func Del[K comparable, V any](k K) Change[K, V]      { return Change[K, V]{Key: k, Del: true} }

// SetFDB, DelFDB, SetFlood, DelFlood, SetNeigh, DelNeigh, SetDevice,
// SetRoute and DelRoute append one change.
func (d *Delta) SetFDB(f FDB)         { d.FDB = append(d.FDB, Set(f.Key(), f)) }
func (d *Delta) DelFDB(k FDBKey)      { d.FDB = append(d.FDB, Del[FDBKey, FDB](k)) }
func (d *Delta) SetFlood(f Flood)     { d.Flood = append(d.Flood, Set(f, struct{}{})) }
func (d *Delta) DelFlood(f Flood)     { d.Flood = append(d.Flood, Del[Flood, struct{}](f)) }
func (d *Delta) SetNeigh(n Neigh)     { d.Neigh = append(d.Neigh, Set(n.Key(), n)) }
func (d *Delta) DelNeigh(k NeighKey)  { d.Neigh = append(d.Neigh, Del[NeighKey, Neigh](k)) }
func (d *Delta) SetDevice(v Device)   { d.Devices = append(d.Devices, Set(v.VNI, v)) }
func (d *Delta) DelDevice(vni uint32) { d.Devices = append(d.Devices, Del[uint32, Device](vni)) }
func (d *Delta) SetRoute(r Route)     { d.Routes = append(d.Routes, Set(r.Dst, r)) }
func (d *Delta) DelRoute(p netip.Prefix) {
	d.Routes = append(d.Routes, Del[netip.Prefix, Route](p))
}

// Len is the number of changes.
func (d Delta) Len() int {
	return len(d.Devices) + len(d.FDB) + len(d.Flood) + len(d.Neigh) + len(d.Routes)
}

// Empty reports whether d changes nothing.
func (d Delta) Empty() bool { return d.Len() == 0 }

// Append adds o's changes after d's.
func (d *Delta) Append(o Delta) {
	d.Devices = append(d.Devices, o.Devices...)
	d.FDB = append(d.FDB, o.FDB...)
	d.Flood = append(d.Flood, o.Flood...)
	d.Neigh = append(d.Neigh, o.Neigh...)
	d.Routes = append(d.Routes, o.Routes...)
}

// ApplyDelta applies d to s's maps in place (a missing map is allocated).
// Devices are stored as AddDevice stores them, routes as AddRoute does.
// Unlike Apply (what a Dataplane does), setting a routed Device does not
// drop the VNI's FDB and flood entries: a desired State says what is
// wanted, the reconciler decides what the kernel can hold.
func (s *State) ApplyDelta(d Delta) {
	s.alloc()
	for _, c := range d.Devices {
		if c.Del {
			delete(s.Devices, c.Key)
		} else {
			s.AddDevice(c.Val)
		}
	}
	applyChanges(s.FDB, d.FDB)
	applyChanges(s.Flood, d.Flood)
	applyChanges(s.Neigh, d.Neigh)
	for _, c := range d.Routes {
		if c.Del {
			delete(s.Routes, c.Key)
		} else {
			s.AddRoute(c.Val)
		}
	}
}

func applyChanges[K comparable, V any](m map[K]V, cs []Change[K, V]) {
	for _, c := range cs {
		if c.Del {
			delete(m, c.Key)
		} else {
			m[c.Key] = c.Val
		}
	}
}

// alloc allocates s's nil maps.
func (s *State) alloc() {
	if s.Devices == nil {
		s.Devices = map[uint32]Device{}
	}
	if s.FDB == nil {
		s.FDB = map[FDBKey]FDB{}
	}
	if s.Flood == nil {
		s.Flood = map[Flood]struct{}{}
	}
	if s.Neigh == nil {
		s.Neigh = map[NeighKey]Neigh{}
	}
	if s.Routes == nil {
		s.Routes = map[netip.Prefix]Route{}
	}
}

// DeltaTo returns the Delta that turns s into o (both left as they are):
// O(size of both), for what changes whole and rarely (a routed source's
// table, the mask).
func (s State) DeltaTo(o State) Delta {
	var d Delta
	d.Devices = mapDelta(s.Devices, o.Devices, func(a, b Device) bool { return a == b })
	d.FDB = mapDelta(s.FDB, o.FDB, func(a, b FDB) bool { return a == b })
	d.Flood = mapDelta(s.Flood, o.Flood, func(a, b struct{}) bool { return true })
	d.Neigh = mapDelta(s.Neigh, o.Neigh, func(a, b Neigh) bool { return a == b })
	d.Routes = mapDelta(s.Routes, o.Routes, Route.Equal)
	return d
}

func mapDelta[K comparable, V any](from, to map[K]V, eq func(a, b V) bool) []Change[K, V] {
	var cs []Change[K, V]
	for k, v := range to {
		if c, ok := from[k]; !ok || !eq(c, v) {
			cs = append(cs, Set(k, v))
		}
	}
	for k := range from {
		if _, ok := to[k]; !ok {
			cs = append(cs, Del[K, V](k))
		}
	}
	return cs
}

// dirty is the set of keys a reconciler's desired state changed at since
// its last pass (see Reconciler.Update).
type dirty struct {
	devices map[uint32]struct{}
	fdb     map[FDBKey]struct{}
	flood   map[Flood]struct{}
	neigh   map[NeighKey]struct{}
	routes  map[netip.Prefix]struct{}
}

func (k *dirty) add(d Delta) {
	if k.devices == nil {
		// sized for the first Delta, often most of a pass's keys (a
		// source's batch): growing a map to 100,000 keys allocated about
		// twice its final size
		*k = dirty{devices: make(map[uint32]struct{}, len(d.Devices)), fdb: make(map[FDBKey]struct{}, len(d.FDB)),
			flood: make(map[Flood]struct{}, len(d.Flood)), neigh: make(map[NeighKey]struct{}, len(d.Neigh)),
			routes: make(map[netip.Prefix]struct{}, len(d.Routes))}
	}
	addKeys(k.devices, d.Devices)
	addKeys(k.fdb, d.FDB)
	addKeys(k.flood, d.Flood)
	addKeys(k.neigh, d.Neigh)
	addKeys(k.routes, d.Routes)
}

func addKeys[K comparable, V any](m map[K]struct{}, cs []Change[K, V]) {
	for _, c := range cs {
		m[c.Key] = struct{}{}
	}
}
