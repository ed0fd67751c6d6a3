// Package routed is the routed-mode (pure L3) control plane: the host's
// blocks become IPv4/IPv6 unicast routes with the host's underlay address
// as next hop, sent through the embedded speaker of control/bgp, and the
// unicast routes received from peers become the kernel routes the
// reconciler installs (overlay.Route, tagged overlay.RouteProtocol). It
// never touches the kernel, imports no netlink and no GoBGP type: the
// speaker hands over prefixes and next hops (bgp.Handler.Unicast).
//
// # What we send
//
// One route per block, next hop NextHop4 or NextHop6, and a /32 or /128
// per address of each chained endpoint (PutEndpoint: made by another
// plugin, its addresses lie outside every block and its MAC is not behind
// the bridge). The blocks are one owner of paths in the speaker
// (bgp.Speaker.Advertise), each chained endpoint another. The speaker's export
// policy sends local routes only, so a host never re-advertises what one
// peer sent to another. Peers may be iBGP or eBGP (a ToR in its own AS).
//
// # What we install (translate.go)
//
// The speaker's import policy already admits only prefixes inside a
// network's subnet (any length) and the import prefixes (exactly). For
// each received prefix the speaker reports the whole multipath set (the
// best path and every path that ties with it); it becomes one route via
// the set's next hops, sorted — an ECMP route when there are several.
// Dropped, and logged:
//
//   - our own blocks, and prefixes inside them: our pods are local;
//   - a network's whole subnet: the anycast gateway's address on the
//     bridge already gives the kernel a connected route for it;
//   - prefixes outside the subnets and import prefixes (defence in depth);
//   - next hops that are ours (a route via ourselves loops), link-local
//     (they need a device), unspecified or of the other address family.
//
// # Changes and start-up
//
// The Source publishes changes (overlay.Delta, Routes only): for every
// prefix whose route to install changed, the new route or its removal,
// O(changes), coalesced like control/evpn's: a lone change goes out
// about a millisecond after it arrived, bursts are spaced by 5 ms. A path
// set refreshed unchanged publishes nothing. The routes received before
// Run go out at once (possibly none).
//
// Start-up order (what vxbgpd does): NewSource; the agent puts the stored
// endpoints; Run; Ready closes once the blocks and host routes are handed
// to the speaker; the agent waits for the speaker to hold them, then
// configures peers with the unicast families. Synced then tells the agent
// when the received table is complete (End-of-RIB from every configured
// peer of our families, or SyncTimeout) and stale kernel routes may go.
// The loop is control/internal/srcloop, shared with control/evpn.
package routed
