// Package netlinkdp is the Linux overlay.Dataplane: it reads (Observe) and
// writes (Apply) the kernel objects of the overlay through one
// *netlink.Handle bound to a network namespace, and watches (Watch) our
// links for changes made behind the agent's back.
//
// Per network (VNI 100 here), in iproute2 terms:
//
//	ip link add vxbr100 address GWMAC mtu 1450 type bridge
//	ip link add vxlan100 mtu 1450 type vxlan id 100 local VTEP dev UNDERLAY dstport 4789 nolearning
//	ip link set vxbr100 alias vxbgp:NET; ip link set vxlan100 alias vxbgp:NET
//	ip link set vxlan100 master vxbr100
//	bridge link set dev vxlan100 learning off neigh_suppress on
//	ip addr replace GATEWAY/LEN dev vxbr100
//	ip link set vxlan100 up; ip link set vxbr100 up
//
// and per entry, exactly the messages FRR's zebra sends, so an FRR host and a
// vxbgp host program identical entries:
//
//	remote MAC   bridge fdb replace MAC dev vxlan100 dst VTEP self master extern_learn dynamic
//	             (one RTM_NEWNEIGH, AF_BRIDGE, NUD_REACHABLE, NTF_SELF|NTF_MASTER|NTF_EXT_LEARNED,
//	             NLM_F_REPLACE: the kernel creates the vxlan entry with dst VTEP and the bridge
//	             entry pointing at the vxlan port; a new VTEP for a known MAC replaces the old)
//	remote VTEP  bridge fdb append 00:00:00:00:00:00 dev vxlan100 dst VTEP self permanent
//	             (NLM_F_APPEND, NUD_NOARP|NUD_PERMANENT, NTF_SELF: head-end replication list)
//	remote IP    ip neigh replace IP lladdr MAC dev vxbr100 nud noarp extern_learn
//
// Why this shape: data-plane learning is off (nolearning on the vxlan device,
// learning off on its bridge port) because BGP says where every MAC is, and
// a learnt entry would race with it. extern_learn entries are never aged by
// the bridge or by vxlan. neigh_suppress makes the bridge answer ARP and ND
// for remote IPs from the NOARP neighbours, so no ARP crosses the tunnel.
// The bridge carries the anycast gateway (the same MAC and address on every
// host), so a pod's gateway is always local.
//
// Ownership: every link the agent creates carries the alias "vxbgp:" plus
// the network's name. Observe returns only such links and the entries on
// them; Apply never modifies or deletes a link without it, and refuses
// (ErrNotManaged) to take over a link that has one of our names but not our
// alias. Deleting a device deletes its entries with it (the kernel flushes a
// link's FDB and neighbours), which is what overlaytest does too.
//
// Every dump is retried while the kernel reports it interrupted
// (NLM_F_DUMP_INTR), because acting on an incomplete dump would delete live
// entries.
package netlinkdp
