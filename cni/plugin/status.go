package plugin

import (
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
)

// Status reports whether ADD can work now. It fails with code 50 (plugin
// not available) only when this host truly cannot attach pods: the agent
// never wrote networks.json here, the network is not in it, or (unless
// chained, which needs no bridge) the network's bridge does not exist.
// A stopped agent is not a reason: ADD works without it (the agent
// announces the pods from the store when it is back), and the bridge and
// vxlan device stay in the kernel while it is down.
func Status(host *netlink.Handle, conf *NetConf) error {
	n, err := conf.LookupNetwork()
	if err != nil {
		return withCode(types.ErrPluginNotAvailable, fmt.Errorf("not ready: %w", err))
	}
	if conf.Chained {
		return nil
	}
	if _, err := lookupBridge(host, n); err != nil {
		return withCode(types.ErrPluginNotAvailable, fmt.Errorf("network %s not ready: %w", n.Name, err))
	}
	return nil
}
