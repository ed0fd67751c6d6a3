// Package evpn is the overlay-mode control plane: local endpoints become
// EVPN routes (RFC 7432, VXLAN per RFC 8365) through the embedded speaker
// of control/bgp, and the routes received from peers become the desired
// overlay.State that the reconciler programs. It never touches the kernel
// and imports no netlink; GoBGP's types appear only in translate.go,
// translate_native.go and translate_decode.go.
//
// # What we send (translate.go), as FRR does (notes/frr/RECIPE.md §7)
//
//   - type-3 per network: RD routerID:RDIndex, originator = next hop = PMSI
//     tunnel id = our VTEP, PMSI ingress replication with label = VNI. It
//     puts us in every peer's flood list for the VNI.
//   - type-2 per endpoint address (MAC-only when it has none): label = VNI,
//     next hop = VTEP, RT (ASN&0xFFFF):VNI, VXLAN encapsulation community.
//     When a remote VTEP already announces the MAC in that VNI, the route
//     carries the next MAC mobility sequence (a move to us): GoBGP's own
//     stamping reads a missing sequence as -1, not 0, and would tie.
//
// # What we install (store.go), per received route
//
// Our own paths and routes whose VTEP is ours are ignored. A route applies
// to every local network whose VNI is among its route targets' local-admin
// values: like FRR's auto-RT import, the RT's AS is ignored, because it
// differs between eBGP neighbours.
//
//   - type-3: the originator joins the VNI's flood list (the all-zero FDB
//     entry, head-end replication).
//   - type-2: the MAC is put behind the next hop; an IP inside the network's
//     subnet also becomes a neighbour entry (the bridge answers ARP for it).
//     An IP outside the subnet is logged and ignored; the MAC still applies.
//   - one MAC claimed by several VTEPs: the highest mobility sequence wins,
//     then the lowest VTEP, so that every host decides alike.
//
// Withdrawals remove entries. A peer that goes down without graceful
// restart has its routes withdrawn by GoBGP; during a graceful restart they
// stay, unchanged, until the peer's End-of-RIB (see control/bgp).
// Malformed and unsupported routes (EVPN types 1, 4, 5, other
// encapsulations) are logged — warnings rate-limited, unsupported ones at
// debug — and ignored; the session stays up. A malformed route whose NLRI
// can be read withdraws what that NLRI announced before (RFC 7606's
// treat-as-withdraw): the peer no longer means it.
//
// # Changes, not snapshots
//
// The Source publishes changes to the desired state (overlay.Delta), not
// whole states: first the networks' devices, then, for every FDB,
// neighbour and flood key the received routes touched, its new winner or
// its removal (index.go keeps the routes that claim each key, so a
// received route costs O(its entries), not a rebuild of the table). The
// watch callback (Handler) only decodes and stores; the loop publishes. A
// lone change goes out about a millisecond after it arrived (to collect
// the rest of its UPDATE); during a burst, publishes are spaced by 5 ms.
// A route refreshed unchanged (after a peer's restart) publishes nothing.
//
// # What we advertise, and the start-up order (what vxbgpd does)
//
// PutEndpoint and DeleteEndpoint carry one endpoint each (the agent's
// registry calls them for every CNI ADD and DEL and every change a store
// resync finds); the loop hands the speaker the endpoint's whole set of
// type-2 paths under an owner of its own (bgp.Speaker.Advertise, which
// diffs, adds before it withdraws and retries), so one endpoint costs
// O(1) whatever the table's size. The type-3 routes have their own owner.
//
// NewSource; the agent puts the stored endpoints; Run; Ready closes once
// the first pass handed the speaker all of them; the agent waits for the
// speaker to hold them (WaitAdvertised) and only then configures peers:
// the End-of-RIB we send with the first table tells peers that held our
// routes across the restart to drop any we did not send again. Synced
// then tells the agent when the received table is complete (End-of-RIB
// from every configured EVPN peer whose OPEN offered EVPN, or
// SyncTimeout) and stale kernel entries may go. The loop itself is
// control/internal/srcloop, shared with control/routed.
package evpn
