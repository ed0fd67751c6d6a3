// Package ndproxy answers, on bridges of routed mode, the IPv6 neighbour
// solicitations pods send for addresses of their subnet that live on other
// hosts: the IPv6 counterpart of the bridges' proxy ARP
// (overlay.Device.NDProxy).
//
// Why a responder of our own: Linux's proxy_ndp answers only the addresses
// listed one by one (ip -6 neigh add proxy ADDR dev BRIDGE), and a remote
// block of a /64 has too many. So for a target inside the bridge's IPv6
// subnet, outside this host's block (its pods answer for themselves) and
// not the gateway (the kernel answers for its own address), the responder
// sends the soliciting pod a Neighbor Advertisement with the bridge's MAC,
// the anycast gateway MAC; the pod's traffic to that address then reaches
// the host, which routes it to the remote block's host.
//
// Overlay mode needs none of this: the EVPN neighbour entries and
// neigh_suppress make the bridge answer from its neighbour table.
//
// It reads from one AF_PACKET socket for IPv6 (Open) with a classic BPF
// filter that passes only ICMPv6 Neighbor Solicitations, on every
// interface of the namespace, and keeps those received on a bridge it
// serves (matched by ifindex). A packet socket of protocol ETH_P_IPV6 sees
// a frame a pod sends on the bridge device (not on the pod's port, whose
// bridge rx handler takes the frame before protocol taps), multicast and
// unicast NS alike. The answer goes out of the bridge device to the pod's
// link-layer address:
//
//	socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IPV6)) + SO_ATTACH_FILTER (icmp6 type 135)
//	sendto(NA router|solicited|override, target TARGET, tll GWMAC) dev BRIDGE
//
// The Responder serves a changing set of bridges from one socket, opened
// when the first bridge is served and closed when the last one goes; a
// receive error stops it and forgets every bridge, so that whoever asks
// Serving sees it is off and serves again (overlay/netlinkdp does that
// through the reconciler).
package ndproxy
