// Package netlinkdp is the Linux overlay.Dataplane: it reads (Observe) and
// writes (Apply) the kernel objects of the overlay through one
// *netlink.Handle bound to a network namespace, and watches (Watch) our
// links, the entries on them, our routes, the bridges' gateway addresses
// and our NAT table for changes made behind the agent's back
// (watch.go, watchentries.go, watchnft.go).
//
// Per network (VNI 100 here), in iproute2 terms:
//
//	ip link add vxbr100 address GWMAC mtu 1450 group NEWLINKGROUP type bridge
//	ip link add vxlan100 mtu 1450 group NEWLINKGROUP type vxlan id 100 local VTEP dev UNDERLAY dstport 4789 nolearning
//	ip link set vxbr100 alias vxbgp:NET; ip link set vxlan100 alias vxbgp:NET
//	ip link set vxbr100 group default; ip link set vxlan100 group default
//	ip link set vxlan100 master vxbr100
//	bridge link set dev vxlan100 learning off neigh_suppress on
//	ip addr replace GATEWAY/LEN dev vxbr100; ip addr replace GATEWAY6/LEN dev vxbr100 nodad
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
// Routed mode (Device.VXLAN ""), per network and per remote block:
//
//	ip link add vxbr100 address GWMAC mtu MTU type bridge; ... (as above, without vxlan100)
//	ip link del vxlan100                                 (if it exists: switching from overlay mode)
//	sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf.vxbr100.forwarding=1
//	sysctl -w net.ipv4.neigh.vxbr100.proxy_delay=0 net.ipv4.conf.vxbr100.proxy_arp=1
//	sysctl -w net.ipv6.conf.all.forwarding=1            (dual-stack, Device.NDProxy)
//	answer NS on vxbr100 for GATEWAY6's subnet but NDPROXY, with GWMAC  (AF_PACKET: overlay/ndproxy)
//	ip route replace BLOCK proto 201 metric 20 nexthop via HOST [nexthop via HOST2]
//
// proxy_arp makes the bridge answer a pod's ARP for a remote pod (routed
// away from the bridge) with the gateway MAC; proxy_delay 0 makes it answer
// at once rather than after up to 0.8 s; forwarding lets the host route
// what it attracted. The bridge's own three go through rtnetlink
// (RTM_SETLINK IFLA_INET_CONF, RTM_SETNEIGHTBL: netconf.go), so they need
// CAP_NET_ADMIN and no writable /proc/sys; the host-wide forwarding
// switches have no netlink setter and are written to /proc/sys only when
// the host has not set them (a read-only /proc/sys then fails with
// ErrSysctlReadOnly, naming the sysctl). The agent's Dataplane (New) lives
// in the process's own namespace and never enters one: setns needs
// CAP_SYS_ADMIN. A test's Dataplane (NewAt) enters its namespace to open
// sockets and read /proc/sys/net, which belongs to the namespace of the
// thread that opens it (inNS).
// The bridge without vxlan device is found again by its name
// (overlay.BridgeName); Observe reports Device.ProxyARP only when
// proxy_arp, proxy_delay 0 and forwarding are all in place.
//
// IPv6 has no proxy_arp for a whole prefix (proxy_ndp answers listed
// addresses only), so for a Device with NDProxy the Dataplane runs the
// responder of overlay/ndproxy: one packet socket, opened in the
// Dataplane's namespace when the first bridge needs it and closed with the
// last one (or Close), answers every served bridge's solicitations for its
// subnet outside this host's block. It is desired state like the rest:
// Observe reports a bridge's NDProxy only while the responder serves that
// very link (ifindex, MAC, gateway) with that block and IPv6 forwarding is
// on. A responder that fails stops serving and logs; Watch kicks, Observe
// reports the bridges without NDProxy, and the reconciler sets them again,
// which opens a new socket.
//
// Routes name only gateways: the kernel resolves them through the
// underlay's routes, as it would for `ip route replace ... via GW`. The
// agent's routes are those of the main table with protocol 201 and metric
// 20 (RouteMetric, which keeps a replace off the host's own route to the
// same prefix); Observe folds an IPv6 multipath route that the kernel
// reports as one route per gateway.
//
// After deleting a neighbour on a bridge with proxy ARP, and after removing
// the vxlan device of such a bridge, the pods are sent a gratuitous ARP per
// remote IP (sender IP = target IP = the remote IP, sender MAC = the
// gateway MAC), out of each pod port, so that a pod that cached the remote
// pod's real MAC while the tunnel existed switches to the gateway at once:
//
//	arping -U -s GWMAC IP   (AF_PACKET, per bridge port other than our vxlan device)
//
// The host's underlay, which the agent needs before it builds any device
// (the VXLAN devices' local address and device, the MTU they leave, the
// next hops it announces), is read here too, so that the agent never
// reads the kernel itself:
//
//	DefaultAddr  ip -4 route show default table main; ip -4 addr show dev DEV scope global
//	Underlay     ip -o addr show to ADDR; ip link show dev DEV (MTU);
//	             ip -6 addr show dev DEV scope global -tentative -dadfailed (Addr6)
//
// Ownership: every link the agent creates carries the alias "vxbgp:" plus
// the network's name. Observe returns only such links and the entries on
// them; Apply never modifies or deletes a link without it, and refuses
// (ErrNotManaged) to take over a link that has one of our names but not our
// alias. The kernel ignores an alias in the message that creates a link, so
// links are created in a link group of ours (newLinkGroup) that marks them
// until the alias is set; a link left without alias by an agent killed in
// between is then still ours, and finished by the next. Deleting a device deletes its entries with it (the kernel flushes a
// link's FDB and neighbours), which is what overlaytest does too.
//
// Every dump is retried while the kernel reports it interrupted
// (NLM_F_DUMP_INTR), because acting on an incomplete dump would delete live
// entries.
package netlinkdp
