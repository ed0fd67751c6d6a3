package table

// vxbgp: the attributes of a path for a reader that only reads them
// (PATCHES.md, the native watcher).

import "github.com/osrg/gobgp/v3/pkg/packet/bgp"

// PathAttrsShared is GetPathAttrs, except that for a path that neither it
// nor any ancestor below the root modifies (a received path, its clones)
// it returns the root's own list instead of a copy: the caller must not
// change it or keep it past reading, as with the NLRI. Any other path
// gets GetPathAttrs's merged copy.
func (path *Path) PathAttrsShared() []bgp.PathAttributeInterface {
	root := path
	for root.parent != nil && len(root.dels) == 0 && len(root.pathAttrs) == 0 {
		root = root.parent
	}
	if root.parent == nil && len(root.dels) == 0 {
		return root.pathAttrs[:len(root.pathAttrs):len(root.pathAttrs)]
	}
	return path.GetPathAttrs()
}
