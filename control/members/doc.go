// Package members is how hosts find each other: hashicorp/memberlist
// gossip (SWIM) on the underlay address, port 7946 TCP and UDP by default.
// It keeps a table of members — what each announces, and whether it is
// alive, dead or gone — and turns the alive ones with our ASN into iBGP
// peers (Peers, a control/peer.Source). It computes; it touches neither the
// kernel nor BGP.
//
// # What a member announces
//
// Memberlist's node metadata, at most 512 bytes, as versioned JSON:
//
//	{"v":1,"name":"host-a","addr":"10.0.0.1","asn":64512,"mode":"overlay","blocks":["10.244.1.0/24"]}
//
// addr is the underlay address: VTEP, BGP address and gossip address at
// once (a member whose addr is not the address it gossips from is
// refused). New refuses at start a Self whose metadata would not fit.
//
// # Who is refused
//
// Every announcement passes NotifyAlive before memberlist admits it or
// takes its new metadata, and a refused one is dropped there: the member
// never enters memberlist's list, is not probed, is not in Members, is not
// a peer. Refused, logged at Warn with both sides, and counted in Stats
// (once per distinct refusal, not per repeated announcement):
//   - metadata that does not decode, or lacks a name, a unicast address,
//     an ASN, a known mode, or has a block with host bits (BadMeta);
//   - an underlay address that an alive member (or this host) already
//     has under another name (Conflicts);
//   - a node name another member has at another address: memberlist keeps
//     the first it heard of and tells NotifyConflict (Conflicts);
//   - a block overlapping one of this host's (Overlaps). This is our own
//     view: two other members overlapping each other are for them to
//     refuse.
//
// A member already admitted whose new announcement is refused is hidden
// from Members until it announces something acceptable again.
//
// # Timing
//
// Memberlist's defaults take 5–14 s to declare a stopped host dead;
// DefaultTimings (probe every 300 ms, 150 ms to answer, suspicion 3 probe
// intervals × log10 of the cluster size) take about 1.5 s in a small
// cluster and 2.5 s at 100 members (TestDeathAtScale measures it). A restarting agent does not leave
// (see Run): its host is dead for the others until it is back, and the
// agent decides what a dead host's routes become. Every second a few
// members call on (join) each member declared dead and each member back
// from the dead (see reconnect.go), so a host that returns is in the
// member list again, both ways, within about a second, even when it is
// its own only seed.
//
// # Encryption
//
// With keys (LoadKeys), every packet and stream is AES-GCM encrypted and
// authenticated with the first key and accepted under any; a host without
// the key cannot join, nor read or forge what the members say.
package members
