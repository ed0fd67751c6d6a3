package plugin

import (
	"fmt"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vxbgp/vxbgp/cni/ipam"
)

// Status reports whether ADD can work now: the network's bridge exists.
// Otherwise the error is code 50 (plugin not available), which tells the
// runtime not to schedule pods here yet.
func Status(d Deps, n ipam.NetworkInfo) error {
	if _, err := lookupBridge(d.Host, n); err != nil {
		return withCode(types.ErrPluginNotAvailable, fmt.Errorf("network %s not ready: %w", n.Name, err))
	}
	return nil
}
