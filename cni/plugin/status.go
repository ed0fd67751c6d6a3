package plugin

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// StatusAgent is the agent as STATUS asks it (*localapi.Client).
type StatusAgent interface {
	Status(ctx context.Context) (localapi.Status, error)
}

var _ StatusAgent = (*localapi.Client)(nil)

// Status reports whether the runtime should attach pods here now. It
// fails with code 50 (plugin not available) when this host cannot attach
// pods (the agent never wrote networks.json here, the network is not in
// it, or, unless chained, which needs no bridge, the network's bridge
// does not exist), and while the agent is unreachable or not ready (its
// initial BGP table or kernel sync is pending: /readyz): the same
// condition under which the agent writes the conflist
// (control/cniconf), for runtimes that call STATUS. A pod ADDed
// meanwhile would still work (the store is the truth and the agent
// announces it when back), but a runtime that asks is told to wait
// for an agent that can route its traffic.
func Status(ctx context.Context, host *netlink.Handle, conf *NetConf, agent StatusAgent) error {
	n, err := conf.LookupNetwork()
	if err != nil {
		return withCode(types.ErrPluginNotAvailable, fmt.Errorf("not ready: %w", err))
	}
	if !conf.Chained {
		if _, err := lookupBridge(host, n); err != nil {
			return withCode(types.ErrPluginNotAvailable, fmt.Errorf("network %s not ready: %w", n.Name, err))
		}
	}
	st, err := agent.Status(ctx)
	if err != nil {
		return withCode(types.ErrPluginNotAvailable, fmt.Errorf("not ready: agent at %s unreachable: %w", conf.Socket, err))
	}
	if !st.Ready {
		return withCode(types.ErrPluginNotAvailable, fmt.Errorf("not ready: agent at %s is starting (synced %t): its initial BGP table or kernel sync is pending (vxbgpctl status)", conf.Socket, st.Synced))
	}
	return nil
}
