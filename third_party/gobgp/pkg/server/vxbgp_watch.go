package server

// vxbgp: a watcher that gets the table's paths as GoBGP parsed them, not
// converted to protobuf (PATCHES.md). WatchEvent marshals every NLRI and
// attribute of every best-path change into anypb.Any values, which the
// watcher then unmarshals again: at 100,000 received EVPN routes that
// round trip was most of the agent's CPU.

import (
	"context"
	"net"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/internal/pkg/table"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// WatchPath is one path of a best-path or End-of-RIB event, as the
// server's table holds it. Its NLRI and attributes are the table's own
// values, shared with the server: read them, never change them.
type WatchPath struct {
	p *table.Path
	// First is set on the first path of a destination in the event: its
	// best path (with multiple paths, the event lists the destination's
	// whole tie set, best first), or an End-of-RIB marker.
	First bool
	// the path's fields that the server may change after the event (a
	// peer going down marks its paths withdrawn), as they were then: what
	// a clone of the path kept
	withdraw, nhInvalid bool
}

// NLRI is the path's destination; an End-of-RIB marker has an empty one
// (IsEOR).
func (w WatchPath) NLRI() bgp.AddrPrefixInterface { return w.p.GetNlri() }

// Family is the path's address family.
func (w WatchPath) Family() bgp.RouteFamily { return w.p.GetRouteFamily() }

// Attrs are the path's attributes, in the order received: for a received
// path, the table's own list (no copy per path); read it, never change it
// or keep it.
func (w WatchPath) Attrs() []bgp.PathAttributeInterface { return w.p.PathAttrsShared() }

// IsWithdraw reports a withdrawal (the path is the one withdrawn).
func (w WatchPath) IsWithdraw() bool { return w.withdraw }

// IsEOR reports an End-of-RIB marker (received from Neighbor for Family).
func (w WatchPath) IsEOR() bool { return w.p.IsEOR() }

// Neighbor is the address of the peer the path came from; nil for a local
// path (WatchEvent's NeighborIp "<nil>").
func (w WatchPath) Neighbor() net.IP {
	if s := w.p.GetSource(); s != nil {
		return s.Address
	}
	return nil
}

// API is the path as WatchEvent would have delivered it.
func (w WatchPath) API() *api.Path {
	if w.p.IsEOR() {
		return eorToPathAPI(w.p)
	}
	// toPathApi reads IsWithdraw and IsNexthopInvalid from the path it is
	// given, which may be the table's own, which the server may change
	// meanwhile: it gets a clone holding them as they were at the event.
	c := w.p.Clone(w.withdraw)
	c.IsNexthopInvalid = w.nhInvalid
	return toPathApi(c, nil, false, false, false)
}

// WatchEventNative is WatchEvent, except that the paths of best-path and
// End-of-RIB events go to onPaths as they are in the table, in the order
// and grouping WatchEvent would have sent them (the request's BatchSize
// does not split them); other events go to fn. The callbacks run on one
// goroutine, one at a time.
func (s *BgpServer) WatchEventNative(ctx context.Context, r *api.WatchEventRequest, onPaths func([]WatchPath), fn func(*api.WatchEventResponse)) error {
	return s.watchEvents(ctx, r, onPaths, fn)
}

// watchPaths flattens a best-path event as WatchEvent does, marking the
// first path of each destination. nil paths are skipped, as
// notifyBestWatcher's clones skip them.
func watchPaths(flat []*table.Path, multi [][]*table.Path) []WatchPath {
	if len(multi) > 0 {
		n := 0
		for _, l := range multi {
			n += len(l)
		}
		out := make([]WatchPath, 0, n)
		for _, l := range multi {
			first := true
			for _, p := range l {
				if p != nil {
					out = append(out, watchPath(p, first))
					first = false
				}
			}
		}
		return out
	}
	out := make([]WatchPath, 0, len(flat))
	for _, p := range flat {
		if p != nil {
			out = append(out, watchPath(p, true))
		}
	}
	return out
}

func watchPath(p *table.Path, first bool) WatchPath {
	return WatchPath{p: p, First: first, withdraw: p.IsWithdraw, nhInvalid: p.IsNexthopInvalid}
}

// watchEventNativeBest is a best-path event as WatchEventNative's
// watchers get it (notifyNativeBestWatchers): 32 bytes, where a
// watchEventBestPath, made for every best-path change, is 88. shared is
// set when more than one watcher gets it.
type watchEventNativeBest struct {
	paths  []WatchPath
	shared bool
}

// notifyNativeBestWatchers sends a best-path event to the best-path
// watchers if all of them are WatchEventNative's, and reports whether it
// did. v3.37.0's notifyBestWatcher cloned every path of the event (a
// table.Path each, 100,000 per peer's table taken in) so that the
// watchers, converting them later on their own goroutines, saw each as it
// was when the event was made. The clone shares everything with the path
// but the path's own fields, and of those a native watcher reads only
// IsWithdraw and IsNexthopInvalid (API), which the WatchPath values made
// here on the server's goroutine keep: they carry the table's paths
// themselves. The initial table (watch, initBest) already went out
// uncloned.
func (s *BgpServer) notifyNativeBestWatchers(best []*table.Path, multi [][]*table.Path) bool {
	ws := s.watcherMap[watchEventTypeBestPath]
	for _, w := range ws {
		if !w.opts.native || w.filters[watchEventTypeBestPath] != nil {
			return false
		}
	}
	if len(ws) == 0 {
		return true // nobody to tell: notifyWatcher would do nothing
	}
	// what watchEvents makes of the clones: the multipath lists if any
	ev := &watchEventNativeBest{paths: watchPaths(best, multi), shared: len(ws) > 1}
	s.notifyWatcher(watchEventTypeBestPath, ev)
	return true
}
