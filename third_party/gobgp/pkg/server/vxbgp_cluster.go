// vxbgp patch (see PATCHES.md, "route reflection between reflectors"):
// a reflector ignores a route whose CLUSTER_LIST holds one of its own
// cluster IDs (RFC 4456 8).

package server

import (
	"net"
	"slices"
	"sync/atomic"

	"github.com/osrg/gobgp/v3/internal/pkg/table"
)

// clusterIDSet is the CLUSTER_IDs a server reflects with: those of its
// route-reflector client sessions (GoBGP keeps a cluster ID per session,
// none globally). The server replaces it when it adds or deletes a peer;
// the sessions read it for every received route that has a CLUSTER_LIST.
type clusterIDSet struct {
	ids atomic.Pointer[[]net.IP]
}

// refreshClusterIDs recomputes s.clusterIDs from the configured peers.
func (s *BgpServer) refreshClusterIDs() {
	var ids []net.IP
	for _, p := range s.neighborMap {
		p.fsm.lock.RLock()
		client := p.fsm.pConf.RouteReflector.Config.RouteReflectorClient
		id := p.fsm.peerInfo.RouteReflectorClusterID
		p.fsm.lock.RUnlock()
		if client && id != nil && !slices.ContainsFunc(ids, id.Equal) {
			ids = append(ids, id)
		}
	}
	s.clusterIDs.ids.Store(&ids)
}

// ownClusterLoop reports whether path's CLUSTER_LIST holds one of the
// server's cluster IDs: the route went through this cluster already.
// Before the patch GoBGP checked this only when sending to a client, and
// a route another reflector of the same cluster had reflected took part
// in best-path selection here; when it became the best (its client's own
// route withdrawn), the client's withdrawal was never sent to the other
// clients.
func (peer *peer) ownClusterLoop(path *table.Path) bool {
	if peer.clusterIDs == nil {
		return false
	}
	list := path.GetClusterList()
	if len(list) == 0 {
		return false
	}
	ids := peer.clusterIDs.ids.Load()
	if ids == nil {
		return false
	}
	for _, id := range list {
		if slices.ContainsFunc(*ids, id.Equal) {
			return true
		}
	}
	return false
}
