// Package endpoint is the agent's model of a local pod attachment: one pod
// interface on one network, as the CNI plugin made it. Values are typed
// (a MAC, a list of addresses whatever their family) and are parsed once
// where they enter the process: the local API (control/localapi) and the
// address store (ipam). Everything past that edge works with this type.
package endpoint

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/vxbgp/vxbgp/overlay"
)

// Key identifies an endpoint: the CNI runtime's (containerID, ifName)
// pair is unique per attachment.
type Key struct {
	ContainerID string
	IfName      string
}

func (k Key) String() string { return k.ContainerID + "/" + k.IfName }

// Endpoint is one local pod interface.
type Endpoint struct {
	ContainerID string
	IfName      string // inside the pod, e.g. eth0
	Network     string // the network's name from the agent's config
	HostIf      string // host side of the veth; another plugin's when Chained
	MAC         overlay.MAC
	// IPs are the pod's addresses on this interface, unmapped, in the
	// order they were allocated (IPv4 first on a dual-stack network).
	IPs   []netip.Addr
	Netns string // path of the pod's network namespace
	// Chained: another plugin made the interface and its addresses
	// (vxbgp-cni ran chained after it).
	Chained bool
}

func (e Endpoint) Key() Key { return Key{e.ContainerID, e.IfName} }

// SameAdvert reports whether o is advertised exactly as e: same network,
// MAC, addresses and attachment kind. HostIf and Netns do not reach BGP.
func (e Endpoint) SameAdvert(o Endpoint) bool {
	return e.Network == o.Network && e.MAC == o.MAC && e.Chained == o.Chained && slices.Equal(e.IPs, o.IPs)
}

// Equal reports whether two endpoints are identical.
func (e Endpoint) Equal(o Endpoint) bool {
	return e.SameAdvert(o) && e.ContainerID == o.ContainerID && e.IfName == o.IfName &&
		e.HostIf == o.HostIf && e.Netns == o.Netns
}

// Compare orders keys by container ID, then interface name.
func Compare(a, b Key) int {
	return cmp.Or(cmp.Compare(a.ContainerID, b.ContainerID), cmp.Compare(a.IfName, b.IfName))
}
