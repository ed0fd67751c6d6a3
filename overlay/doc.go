// Package overlay holds the data-plane model of vxbgp: the kernel state the
// control plane wants (State), the difference between two states (Diff), and
// the level-triggered Reconciler that drives a Dataplane towards it.
//
// Kernel design (overlay mode, one network = one VNI):
//
//	pod veth ──┐
//	pod veth ──┼── bridge vxbr<VNI>  (anycast gateway IP + the fixed gateway MAC)
//	vxlan<VNI> ┘   (nolearning, dstport 4789, local <VTEP>; port learning off, neigh_suppress on)
//
// A remote MAC (EVPN type-2) becomes the pair of extern_learn FDB entries the
// kernel creates from one NTF_SELF|NTF_MASTER message: the vxlan "self" entry
// with dst <VTEP> and the bridge "master" entry pointing at the vxlan port. A
// remote MAC+IP also becomes a NOARP extern_learn neighbour on the bridge, so
// the bridge answers ARP locally (neigh_suppress) and no ARP crosses the
// tunnel. A remote VTEP (EVPN type-3) becomes one all-zero-MAC flood entry on
// the vxlan device (head-end replication). This is the layout FRR's zebra
// programs, so an FRR host and a vxbgp host agree on every entry.
//
// Kernel design (routed mode, Device.VXLAN ""): the same bridge with the
// same anycast gateway, no VXLAN device, so pods keep their addresses,
// prefix lengths and gateway across a mode switch, and the pods' ports stay
// on the bridge:
//
//	pod veth ──┬── bridge vxbr<VNI>  (anycast gateway; proxy_arp 1, proxy_delay 0, forwarding)
//	pod veth ──┘
//	route <remote block> proto 201 nexthop via <remote host's underlay address> [nexthop via ...]
//
// A pod reaches a pod of another host inside its own subnet, so it ARPs for
// it; with Device.ProxyARP the bridge answers with its own MAC, because the
// host routes that address elsewhere (the remote block's Route), and at once
// (proxy_delay 0; the kernel's default waits up to 0.8 s). The host then
// routes the packet to the remote host, which delivers it on its bridge. A
// pod of the same host is on the bridge's own connected route, so the
// bridge does not answer for it and the pod answers itself. IPv6 pods ask
// with neighbour solicitations, which the kernel answers by proxy only
// for addresses listed one by one; with Device.NDProxy (this host's IPv6
// block) the Dataplane answers those for the rest of the IPv6 subnet
// itself, with the bridge's MAC (overlay/ndproxy). Routes carry
// RouteProtocol, which is how the agent tells them from the host's own;
// they never name a device of ours, only gateways on the underlay, and one
// Route with several gateways is an ECMP route.
//
// Switching a network from overlay to routed mode is setting its Device
// with VXLAN "": the VXLAN device goes, with its FDB and flood entries; the
// bridge, its gateway and the pods' ports stay. Pods that cached a remote
// pod's real MAC while the L2 path existed would keep sending to it, so a
// Dataplane tells them (a gratuitous ARP for the IP at the gateway MAC)
// when it removes the VXLAN device of a ProxyARP network and when it
// deletes a neighbour of one.
//
// Removing the VXLAN device deletes its entries, so the Reconciler treats
// it as a delete: until MarkSynced, a Device without VXLAN device where
// the kernel has one is applied with the kernel's tunnel fields (VXLAN,
// VTEP, Underlay, Port) and the rest of the desired Device. A host
// restarted from overlay into routed mode thus gets its routes, proxy ARP
// and proxy ND at once and keeps the L2 path for the peers that still use
// it, until its sources have reported; the control plane hands over the
// plain routed state from the start and needs no memory of the previous
// mode. The other way round, a VXLAN device wanted where there is none, is
// an add, made at once.
//
// Pod egress (State.NAT, networks[].natOutgoing) is one object: the
// masquerade rules of the networks whose pods leave behind their host's
// address, each exempting every network's pools of its family. A
// Dataplane keeps it as one table of its own (overlay/nftnat: table inet
// vxbgp) that it replaces whole, atomically, and deletes whole.
//
// What else the control plane needs of the kernel is data too: the host's
// Underlay (its fabric-facing device, address, IPv6 address and MTU), which
// the data plane finds (netlinkdp.Dataplane.Underlay, DefaultAddr).
//
// This package imports no netlink: overlay/netlinkdp implements Dataplane on
// a real kernel and overlay/overlaytest in memory (with the same Underlay,
// DefaultAddr and Watch, so that an agent can run over either).
package overlay
