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
// This package imports no netlink: overlay/netlinkdp implements Dataplane on
// a real kernel and overlay/overlaytest in memory.
package overlay
