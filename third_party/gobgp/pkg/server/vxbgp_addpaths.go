package server

// vxbgp: AddPaths and DeletePaths originate and withdraw many paths of
// the global table in one management operation, and what that queues for
// each peer goes to it as one outgoing message (sendfsmOutgoingMsg holds
// it while peer.held is set), which the packer turns into as few UPDATEs
// as fit (table/vxbgp_pack.go). v3.37.0's Go AddPath and DeletePath take
// one path each (only gRPC has a stream), and its server queues one
// message per path and peer anyway: 10,000 local endpoints were 10,000
// round trips to the server goroutine and 10,000 UPDATEs to every peer.
//
// The paths of one call must name distinct destinations: the packer sends
// a message's withdrawals before its announcements, so one destination
// announced and withdrawn in one message would end withdrawn.
//
// Each path is converted outside the server goroutine and checked
// (fixupApiPath, which reads the RIB for MAC mobility) on it as AddPath and
// DeletePath do; a path that fails gets its error and the others go on.
// Two EVPN MAC/IP paths of one MAC are never propagated together, so that
// the second is checked against a RIB that holds the first, as with one
// call per path. No UUID is kept: the caller withdraws by path.

import (
	"context"
	"encoding/binary"
	"fmt"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/internal/pkg/table"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// AddPaths adds paths to the global table. errs, when not nil, has an
// entry per path (nil: added); err is the server's refusal of the whole
// call (not started).
func (s *BgpServer) AddPaths(ctx context.Context, paths []*api.Path) (errs []error, err error) {
	return s.batchPaths(paths, false)
}

// DeletePaths withdraws the local paths with the NLRIs of paths from the
// global table, as DeletePath with a Path does for one.
func (s *BgpServer) DeletePaths(ctx context.Context, paths []*api.Path) (errs []error, err error) {
	return s.batchPaths(paths, true)
}

func (s *BgpServer) batchPaths(in []*api.Path, withdraw bool) ([]error, error) {
	var errs []error
	native := make([]*table.Path, len(in))
	for i, p := range in {
		path, err := convertPath(p, withdraw)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(in))
			}
			errs[i] = err
			continue
		}
		native[i] = path
	}
	return s.propagateBatch(native, errs, withdraw)
}

// propagateBatch checks and propagates the converted paths (nil: failed
// conversion, its error already in errs) in one management operation.
func (s *BgpServer) propagateBatch(native []*table.Path, errs []error, withdraw bool) ([]error, error) {
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(native))
		}
		errs[i] = err
	}
	err := s.mgmtOperation(func() error {
		// What the batch queues for each peer goes as one message, which
		// the packer turns into as few UPDATEs as fit.
		held := make(map[*peer]*[]*table.Path, len(s.neighborMap))
		for _, p := range s.neighborMap {
			held[p] = new([]*table.Path)
			p.held = held[p]
		}
		defer func() {
			for p, paths := range held {
				p.held = nil
				if len(*paths) > 0 {
					sendfsmOutgoingMsg(p, *paths, nil, false)
				}
			}
		}()
		batch := make([]*table.Path, 0, len(native))
		macs := map[string]bool{}
		flush := func() {
			if len(batch) > 0 {
				s.propagateUpdate(nil, batch)
			}
			batch = batch[:0]
			clear(macs)
		}
		for i, path := range native {
			if path == nil {
				continue
			}
			if mac := evpnMAC(path); mac != "" {
				if macs[mac] {
					flush()
				}
				macs[mac] = true
			}
			if err := s.fixupApiPath("", []*table.Path{path}); err != nil {
				fail(i, err)
				continue
			}
			if withdraw && len(s.uuidMap) > 0 {
				delete(s.uuidMap, pathTokey(path))
			}
			batch = append(batch, path)
		}
		flush()
		return nil
	}, true)
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// convertPath is api2Path for the global table, a panic (a malformed
// path) turned into an error.
func convertPath(p *api.Path, withdraw bool) (path *table.Path, err error) {
	if p == nil {
		return nil, fmt.Errorf("nil path")
	}
	defer func() {
		if r := recover(); r != nil {
			path, err = nil, fmt.Errorf("malformed path: %v", r)
		}
	}()
	return api2Path(api.TableType_GLOBAL, p, withdraw)
}

// evpnMAC is the MAC (with its Ethernet tag) of an EVPN MAC/IP path, or "".
func evpnMAC(path *table.Path) string {
	n, ok := path.GetNlri().(*bgp.EVPNNLRI)
	if !ok {
		return ""
	}
	r, ok := n.RouteTypeData.(*bgp.EVPNMacIPAdvertisementRoute)
	if !ok {
		return ""
	}
	return string(binary.BigEndian.AppendUint32([]byte(r.MacAddress), r.ETag))
}
