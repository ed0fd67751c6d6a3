package plugin

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/ipam"
	"github.com/vxbgp/vxbgp/overlay"
)

// Store is the part of the ipam store the verbs use (*ipam.Store).
type Store interface {
	Allocate(network string, blocks []netip.Prefix, reserved []netip.Addr, owner ipam.Owner) ([]netip.Addr, error)
	Claim(r ipam.Record) error
	Update(r ipam.Record) error
	Release(containerID, ifName string) error
	Get(containerID, ifName string) (ipam.Record, bool, error)
	List() ([]ipam.Record, error)
}

// Agent is told about endpoints (*localapi.Client).
type Agent interface {
	AddEndpoint(ctx context.Context, ep localapi.Endpoint) error
	DelEndpoint(ctx context.Context, containerID, ifName string) error
}

var (
	_ Store = (*ipam.Store)(nil)
	_ Agent = (*localapi.Client)(nil)
)

// DefaultAgentTimeout bounds a call to the agent: pod creation must not
// wait on a hung agent, which catches up from the store anyway.
const DefaultAgentTimeout = time.Second

// Deps are what the verbs act on.
type Deps struct {
	Store Store
	Agent Agent
	// Host is a netlink handle in the host's netns, where the bridge is.
	Host         *netlink.Handle
	Log          *slog.Logger
	AgentTimeout time.Duration // 0: DefaultAgentTimeout
}

// Attachment is one pod interface, as the runtime names it.
type Attachment struct {
	ContainerID string
	IfName      string
	Netns       string // path of the pod's netns; may be empty or gone on DEL
	CNINetwork  string // the "name" of the CNI network config
}

// record is the store's record of the attachment in network, with its
// addresses, pod MAC and host interface.
func (at Attachment) record(network string, ips []netip.Addr, mac overlay.MAC, hostIf string) ipam.Record {
	return ipam.Record{
		ContainerID: at.ContainerID,
		IfName:      at.IfName,
		CNINetwork:  at.CNINetwork,
		Network:     network,
		IPs:         ips,
		MAC:         mac,
		HostIf:      hostIf,
		Netns:       at.Netns,
	}
}

func (d Deps) agentContext(ctx context.Context) (context.Context, context.CancelFunc) {
	t := d.AgentTimeout
	if t <= 0 {
		t = DefaultAgentTimeout
	}
	return context.WithTimeout(ctx, t)
}

func (d Deps) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}
