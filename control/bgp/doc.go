// Package bgp embeds GoBGP v3.37.0 as the agent's BGP speaker: start-up,
// global policies, peers, origination, the Loc-RIB watch and shutdown. It
// is shared by both modes; GoBGP's types (api, packet/bgp) stay inside this
// package and control/evpn/translate*.go.
//
// # Origination: full sets per owner
//
// Advertise(owner, paths) takes everything one owner (an endpoint, the
// blocks, the type-3 routes) wants advertised, as MetalLB's Session.Set
// takes everything a session should carry; the speaker diffs against the
// owner's previous set, adds before it withdraws, keeps a destination
// while any owner claims it, and retries what GoBGP refused
// (advertise.go). Paths are opaque values (Path) built by NewNativePath
// from GoBGP's packet types (control/evpn/translate_native.go), by NewPath
// from a GoBGP API path, or by NewUnicast; they reach GoBGP in packet
// form (AddNativePaths, a patch), without a protobuf round trip.
//
// # The watch: one GoBGP watcher for every consumer
//
// GoBGP encodes each path change once per watcher, so Watch(ctx, handlers...)
// feeds every consumer (Handler: best paths, unicast ECMP sets, End-of-RIB
// markers, sessions) from one watcher, in GoBGP's order; the agent hands
// all its sources' handlers to one Watch before it starts.
//
// # Policies
//
// Installed in New before any peer exists (policy.go): import accepts our
// own paths, every l2vpn-evpn path and the configured unicast prefixes
// (Config.ImportUnicast: that prefix or longer; Config.ImportExact: that
// prefix only), default reject; export sends local paths only, default
// reject — a host is a stub and never re-advertises what it learned.
//
// # Unicast and ECMP (routed mode)
//
// AddUnicast and DeleteUnicast originate a prefix with a next hop; peers
// carry ipv4/ipv6 unicast when PeerConfig.Families says so. A peer whose
// ASN differs from ours is eBGP (GoBGP derives it): single hop (TTL 1),
// our AS prepended, and our explicit next hop kept
// (internal/pkg/table/path.go UpdatePathAttrs keeps a local path's next
// hop unless it is unspecified).
//
// ECMP comes from GoBGP's multipath mode, Global.UseMultiplePaths, which
// New always sets. Best-path selection and what we advertise are
// unchanged; only the BEST watch differs: for each changed destination it
// reports the multipath set — the best path and every path p with
// best.Compare(p) == 0, i.e. same local preference, AS-path length, origin
// and MED, where a local path beats all and eBGP beats iBGP
// (internal/pkg/table/destination.go getMultiBestPath, path.go Compare) —
// whenever that set changes (destination.go GetChanges), all in one event
// (server.go notifyBestWatcher and WatchEvent flatten MultiPathList), or a
// single withdrawal once no path is left. Paths from different
// neighbouring ASes tie (FRR's "bestpath as-path multipath-relax"); MEDs
// are compared even across ASes, so differing MEDs break a tie. The
// alternative, a ListPath per changed prefix with our own tie rule, would
// read the table outside the event order and race with the next change.
// Handler.Path reports the first path of each set only: the best one.
//
// The option is a package variable in GoBGP (table.UseMultiplePaths,
// written by StartBgp), shared by every speaker of a process; New sets it
// identically each time.
//
// # Graceful restart and shutdown
//
// Goal: an agent restart (upgrade, crash, SIGTERM) loses no traffic, and
// sessions converge fast. All file:line references are to
// github.com/osrg/gobgp/v3@v3.37.0/pkg/server unless stated otherwise.
//
// Every peer gets GR with per-AFI MpGracefulRestart (peer.go apiPeer):
// without the per-AFI flag no AFI tuple is advertised and peers keep none
// of our routes. The N bit (RFC 8538) is on.
//
// Helper side (a peer's agent restarts). A session that ends with a read
// or write failure, a hold-timer expiry, or — with the N bit — a received
// Cease other than Hard Reset, is a graceful restart (fsm.go:1894-1905).
// The peer's routes are then marked stale for the families it advertised
// in its GR capability (server.go:1563-1572, peer.go:374), kept until the
// restarted peer sends End-of-RIB (stale ones not re-sent are withdrawn,
// server.go:1919-1930) or its restart time expires. Stale marking emits no
// best-path event, so consumers see nothing at all during the restart;
// verified by TestGracefulRestart.
//
// Restarting side (our agent). Close does not call StopBgp: StopBgp,
// DeletePeer and DisablePeer send Cease/Peer-Deconfigured or
// Admin-Shutdown (server.go:2088), which GoBGP rewrites to Hard Reset when
// the N bit was negotiated (fsm.go:1863, packet/bgp/bgp.go:15098), and a
// Hard Reset makes peers flush our routes. Close only releases our
// watchers; the sessions stay up (with keepalives) until the process
// exits, and the kernel's close of the sockets is a read failure on the
// peer: graceful restart. GoBGP's Serve loop cannot be stopped anyway in
// v3. Stop is the hard shutdown for tests and for "routes must go".
//
// LocalRestarting. A peer configured within its GR time of New (SetPeers)
// gets LocalRestarting, which puts the Restart (R) bit and, per family,
// the Forwarding-preserved (F) bit in our OPEN (fsm.go:775-797). The F bit
// is what matters: RFC 4724 tells a helper to flush stale routes at once
// when the restarted speaker's F bit is clear — FRR does. GoBGP as helper
// ignores it (fsm.go:1396-1421 only warns about a missing R bit), so
// agent-to-agent GR works either way. The F bit is truthful: the kernel
// state stays across an agent restart. We cannot tell a first start from a
// restart, and a peer without stale routes from us ignores both bits.
//
// The cost of LocalRestarting is deferral: GoBGP sends nothing to any
// peer until every peer that sent a GR capability has sent its EOR
// (needToAdvertise server.go:1133; server.go:1746-1782 and 1888-1913), or
// DeferralTime expires. Peers send EOR right after their initial table
// (server.go:1125), so this normally costs one round trip. But a peer that
// went down after its OPEN and before its EOR blocks the check for good:
// its capability flag (fsm.go:1408) is never cleared while its
// EndOfRibReceived is (server.go:1580). So DeferralTime is 1 s instead of
// GoBGP's 360 s: what we export (local routes) does not depend on what we
// receive, there is nothing to wait for, and a short deferral only bounds
// the side effect. It never drops anything: the peer keeps our stale
// routes until our EOR, which comes with our full table.
//
// A route reflector is the exception: what it sends a client comes from
// the other clients. third_party/gobgp is patched (PATCHES.md) so that a
// peer not re-established yet counts as pending in that check (v3.37.0
// counted it done: the first client back got the table and EOR before the
// others' routes were in it, and dropped them as stale), and the deferral
// toward clients is 5 s, long enough for them to re-dial.
//
// That full table must exist when the first EOR goes out, or peers would
// withdraw the routes we had not re-added yet: originate local routes
// before calling SetPeers: the sources' Ready, then WaitAdvertised.
//
// Session recovery. GoBGP v3.37.0 idled 5 s after every session drop,
// closing every connection offered meanwhile, and waited 1-2 s before its
// first dial: a restarted agent got its sessions back 5-9 s after its
// peers noticed the loss. third_party/gobgp is patched (PATCHES.md): no
// idle after a session that lasted 30 s or more, a doubling idle for one
// that flaps, the first dial within 100 ms and a backoff from 250 ms to
// connectRetry. Configure exactly one side of an agent-to-agent session as
// PeerConfig.Passive, so the two never race; the restarted agent's routes
// stay at its peers as stale (graceful restart) until its End-of-RIB.
//
// # Known GoBGP v3.37.0 data races
//
// Paths handed to watchers and ListPath point at live peer state: their
// source is the FSM's peer info, rewritten at the peer's next OPEN
// (fsm.go:1365), and their stale flag is set on a graceful restart
// (table/path.go:396), while toPathApi reads both outside the server loop
// (grpc_server.go:178-191). The values are plain integers and flags, read
// for display; tests order the accesses with a call into the server loop.
package bgp
