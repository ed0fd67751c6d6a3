package overlay

import "maps"

// The desired state while a full pass reads it. A full pass compares the
// whole of want with the kernel without holding mu (Diff over 100,000
// entries takes a while, and Update must not wait for it), so it must not
// change under the pass. Updates made meanwhile wait in pending and are
// applied once the pass is done reading: copying want's maps instead (copy
// on write) cost a second desired state, ~20 MB at 100,000 FDB entries,
// on the first Update after every resync.

// applyWant applies d to want now, or after the full pass reading it;
// r.mu is held.
func (r *Reconciler) applyWant(d Delta) {
	if r.wantShared {
		r.pending = append(r.pending, d)
		return
	}
	r.want.ApplyDelta(d)
}

// releaseWant ends a full pass's hold on want and applies the Updates
// made during it, in order. A Set meanwhile replaced want and dropped
// them; it is idempotent.
func (r *Reconciler) releaseWant() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.wantShared {
		return
	}
	for _, d := range r.pending {
		r.want.ApplyDelta(d)
	}
	r.pending, r.wantShared = nil, false
}

// keepTunnels returns want with every device whose VXLAN device cur holds
// and want would remove carrying cur's tunnel fields instead, for the
// passes before MarkSynced (see Reconciler). want's maps are not modified:
// they may be a source's snapshot; the devices are copied when one is kept.
func keepTunnels(cur, want State) State {
	var kept map[uint32]Device
	for vni, d := range want.Devices {
		c, ok := cur.Devices[vni]
		if !ok || c.Routed() || !d.Routed() {
			continue
		}
		if kept == nil {
			kept = maps.Clone(want.Devices)
		}
		d.VXLAN, d.VTEP, d.Underlay, d.Port = c.VXLAN, c.VTEP, c.Underlay, c.Port
		kept[vni] = d
	}
	if kept != nil {
		want.Devices = kept
	}
	return want
}
