package bgp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	gobgp "github.com/osrg/gobgp/v3/pkg/server"
)

// advertiseRetry is how long a path GoBGP refused waits before the
// speaker offers it again.
const advertiseRetry = time.Second

// advertiser is the speaker's book of what its owners want advertised and
// what GoBGP holds from us. The sources hand over full sets per owner
// (MetalLB's Session.Set, one set per owner instead of one per session, so
// that one endpoint costs O(1), not O(table)); the advertiser diffs.
type advertiser struct {
	mu      sync.Mutex
	owners  map[string]map[string]Path // owner -> destination key -> path
	want    map[string]*claim          // destination key -> what should be in GoBGP
	have    map[string]Path            // destination key -> what GoBGP holds from us
	pending map[string]struct{}        // keys whose have may differ from want
	retry   *time.Timer                // set while a retry is scheduled
	idle    chan struct{}              // closed while nothing is pending
}

// claim is one destination some owners want advertised. Two owners may
// claim one destination (two endpoints with one MAC and IP): it stays
// until the last one lets go, and the latest claim decides its path.
type claim struct {
	path Path
	refs int
}

func newAdvertiser() advertiser {
	idle := make(chan struct{})
	close(idle)
	return advertiser{
		owners: map[string]map[string]Path{}, want: map[string]*claim{},
		have: map[string]Path{}, pending: map[string]struct{}{}, idle: idle,
	}
}

// Advertise makes owner's advertised paths exactly paths: what is new or
// changed is added, what owner no longer lists is withdrawn unless
// another owner still claims it. Adds go before withdrawals, so that a
// changed endpoint (a new address) is never unreachable in between.
//
// What GoBGP refuses stays pending: the speaker offers it again every
// second, and with every later Advertise, until it goes in or no owner
// wants it. The error says what failed this time; WaitAdvertised tells
// when everything is in. A call that changes nothing costs a map lookup
// per path.
func (s *Speaker) Advertise(ctx context.Context, owner string, paths []Path) error {
	return s.AdvertiseAll(ctx, []Advert{{Owner: owner, Paths: paths}})
}

// Advert is one owner's full set of paths, for AdvertiseAll.
type Advert struct {
	Owner string
	Paths []Path
}

// AdvertiseAll is Advertise for many owners at once, in order: what
// changes goes to GoBGP in one call for the adds and one for the
// withdrawals, and so to each peer in as few UPDATEs as fit, where one
// Advertise per owner costs a GoBGP call and an UPDATE per peer per path.
// An owner's set that is malformed (a zero path, a destination listed
// twice) leaves that owner's paths as they were, as Advertise does; the
// others are applied.
func (s *Speaker) AdvertiseAll(ctx context.Context, adverts []Advert) error {
	if err := s.alive(); err != nil {
		return err
	}
	var errs []error
	sets := make([]map[string]Path, len(adverts))
	for i, ad := range adverts {
		next, err := pathSet(ad.Owner, ad.Paths)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sets[i] = next
	}
	a := &s.adv
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, next := range sets {
		if next != nil {
			a.setLocked(adverts[i].Owner, next)
		}
	}
	if err := s.flushLocked(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pathSet is paths by destination key, checked.
func pathSet(owner string, paths []Path) (map[string]Path, error) {
	next := make(map[string]Path, len(paths))
	for _, p := range paths {
		if p.IsZero() {
			return nil, fmt.Errorf("advertise %s: zero path", owner)
		}
		if _, dup := next[p.d.key]; dup {
			return nil, fmt.Errorf("advertise %s: %s listed twice", owner, p)
		}
		next[p.d.key] = p
	}
	return next, nil
}

// setLocked makes owner's book next and marks what changes pending;
// a.mu is held.
func (a *advertiser) setLocked(owner string, next map[string]Path) {
	old := a.owners[owner]
	for k, p := range next {
		q, had := old[k]
		if had && q.Equal(p) {
			continue
		}
		c := a.want[k]
		if c == nil {
			c = &claim{}
			a.want[k] = c
		}
		if !had {
			c.refs++
		}
		if !c.path.Equal(p) {
			c.path = p
			a.pending[k] = struct{}{}
		}
	}
	for k := range old {
		if _, keep := next[k]; keep {
			continue
		}
		c := a.want[k]
		if c.refs--; c.refs == 0 {
			delete(a.want, k)
			a.pending[k] = struct{}{}
		}
	}
	if len(next) == 0 {
		delete(a.owners, owner)
	} else {
		a.owners[owner] = next
	}
}

// WaitAdvertised returns once no path is pending: everything the owners
// want is in GoBGP. The agent waits for it before its first session comes
// up: the End-of-RIB we send with our first table tells graceful-restart
// peers to drop every stale route of ours we have not sent again.
func (s *Speaker) WaitAdvertised(ctx context.Context) error {
	for {
		s.adv.mu.Lock()
		idle := s.adv.idle
		s.adv.mu.Unlock()
		select {
		case <-idle:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.life.Done():
			return ErrClosed
		}
	}
}

// flushLocked makes GoBGP hold what is wanted for the pending keys: adds
// first, then withdrawals, each in one GoBGP call. s.adv.mu is held.
func (s *Speaker) flushLocked(ctx context.Context) error {
	a := &s.adv
	var errs []error
	keys := slices.Sorted(maps.Keys(a.pending)) // a stable order for logs and tests
	var adds, dels []Path
	for _, k := range keys {
		c := a.want[k]
		if c == nil {
			if _, ok := a.have[k]; !ok {
				delete(a.pending, k)
			}
			continue
		}
		if h, ok := a.have[k]; ok && h.Equal(c.path) {
			delete(a.pending, k)
			continue
		}
		adds = append(adds, c.path)
	}
	for _, k := range keys {
		if _, ok := a.want[k]; ok {
			continue
		}
		if h, ok := a.have[k]; ok {
			dels = append(dels, h)
		}
	}
	for i, err := range s.sendPaths(ctx, "add", adds) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.have[adds[i].d.key] = adds[i]
		delete(a.pending, adds[i].d.key)
	}
	for i, err := range s.sendPaths(ctx, "delete", dels) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(a.have, dels[i].d.key)
		delete(a.pending, dels[i].d.key)
	}
	s.settleLocked()
	return errors.Join(errs...)
}

// sendPaths adds (op "add") or withdraws (op "delete") paths in one GoBGP
// call and returns an error per path.
func (s *Speaker) sendPaths(ctx context.Context, op string, paths []Path) []error {
	errs := make([]error, len(paths))
	if len(paths) == 0 {
		return errs
	}
	if err := s.alive(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	send := make([]gobgp.NativePath, 0, len(paths))
	idx := make([]int, 0, len(paths)) // send[j] is paths[idx[j]]
	for i, p := range paths {
		if s.failOp != nil {
			if err := s.failOp(op, p.String()); err != nil {
				errs[i] = fmt.Errorf("%s path %s: %w", op, p, err)
				continue
			}
		}
		send = append(send, p.native(op == "delete"))
		idx = append(idx, i)
	}
	var res []error
	var err error
	if op == "add" {
		res, err = s.srv.AddNativePaths(ctx, send)
	} else {
		res, err = s.srv.DeleteNativePaths(ctx, send)
	}
	for j, i := range idx {
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("%s path %s: %w", op, paths[i], err)
		case res != nil && res[j] != nil:
			errs[i] = fmt.Errorf("%s path %s: %w", op, paths[i], res[j])
		default:
			s.ours.put(paths[i].d.key, op == "add")
		}
	}
	return errs
}

// settleLocked schedules a retry while something is pending and keeps the
// idle channel in step; s.adv.mu is held.
func (s *Speaker) settleLocked() {
	a := &s.adv
	if len(a.pending) == 0 {
		select {
		case <-a.idle:
		default:
			close(a.idle)
		}
		return
	}
	select {
	case <-a.idle:
		a.idle = make(chan struct{})
	default:
	}
	if a.retry != nil || s.life.Err() != nil {
		return
	}
	a.retry = time.AfterFunc(advertiseRetry, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.retry = nil
		if s.life.Err() != nil {
			return
		}
		if err := s.flushLocked(s.life); err != nil {
			s.log.Warn("advertise retry failed, retrying", "pending", len(a.pending), "err", err)
		}
	})
}

// Advertised lists, per owner, the destinations it wants advertised (for
// tests and status).
func (s *Speaker) Advertised() map[string][]string {
	s.adv.mu.Lock()
	defer s.adv.mu.Unlock()
	out := make(map[string][]string, len(s.adv.owners))
	for o, ps := range s.adv.owners {
		for _, p := range ps {
			out[o] = append(out[o], p.String())
		}
		slices.Sort(out[o])
	}
	return out
}
