package overlay

// The Reconciler's readers: what the API, the CLI and the metrics see,
// without waiting for a pass that runs.

// cacheCounts are the cache's sizes after a pass.
type cacheCounts struct{ devices, fdb, flood, neigh, routes int }

// publishCounts records the cache's sizes for Counts and RouteCount; the
// caller holds cacheMu.
func (r *Reconciler) publishCounts() {
	c := r.cache
	r.counts.Store(&cacheCounts{len(c.Devices), len(c.FDB), len(c.Flood), len(c.Neigh), len(c.Routes)})
}

// Stats returns a copy of the counters.
func (r *Reconciler) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Synced = r.synced
	s.Repairs = map[string]uint64{}
	for _, k := range ObjectKinds() {
		s.Repairs[k] = r.stats.Repairs[k]
	}
	s.Errors = map[string]uint64{}
	for _, k := range ErrorKinds() {
		s.Errors[k] = r.stats.Errors[k]
	}
	return s
}

// Current returns the kernel state as of the last pass (a copy). While a
// pass runs it returns the copy it made last, without waiting, once it has
// made one.
func (r *Reconciler) Current() State {
	if !r.cacheMu.TryLock() {
		if s := r.shown.Load(); s != nil {
			return s.Clone()
		}
		r.cacheMu.Lock()
	}
	defer r.cacheMu.Unlock()
	if r.cache == nil {
		return NewState()
	}
	s := r.cache.Clone()
	r.shown.Store(&s)
	return s.Clone()
}

// Counts returns how many devices, FDB, flood and neighbour entries the
// kernel held after the last pass, without copying them or waiting for a
// pass that runs.
func (r *Reconciler) Counts() (devices, fdb, flood, neigh int) {
	c := r.counts.Load()
	if c == nil {
		return 0, 0, 0, 0
	}
	return c.devices, c.fdb, c.flood, c.neigh
}

// RouteCount returns how many routes the kernel held after the last pass.
func (r *Reconciler) RouteCount() int {
	if c := r.counts.Load(); c != nil {
		return c.routes
	}
	return 0
}

// Desired returns the last state handed to Set (a copy).
func (r *Reconciler) Desired() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.want.Clone()
	for _, d := range r.pending {
		st.ApplyDelta(d)
	}
	return st
}
