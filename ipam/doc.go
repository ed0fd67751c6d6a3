// Package ipam is the crash-safe address store of one host, shared by
// every concurrent vxbgp-cni process and by the agent.
//
// Layout under the state directory (default /var/lib/vxbgp):
//
//	networks.json                  what the agent configured (NetworkInfo); the plugin
//	                               reads it, so pods attach while the agent is down
//	ipam/.lock                     flock(2)ed around every read-modify-write
//	ipam/<network>/<ip>            a file per allocated address, holding a JSON Record
//	ipam/<network>/last_reserved   the last IPv4 address handed out, for round robin
//	ipam/<network>/last_reserved6  the same for IPv6
//
// As in host-local, the file name is the allocation: an address is taken
// exactly when a file named after it exists, so there is no index that
// could disagree with the records after a crash. Addresses
// are handed out round robin from the one after last_reserved (of their
// family), so a released address is reused as late as possible (a peer
// may still have it in its ARP cache or FDB).
//
// A pod interface holds one address per pool of its network, allocated
// together (Allocate). In memory its Record lists them; on disk the
// format predates the lists and must stay readable by older plugins
// (json.go): the file named by the record's "ip" is the record proper; a
// dual-stack interface's IPv6 address ("ip6") has a file holding a copy,
// which readers skip. An interface whose addresses do not fit "ip" and
// "ip6" (a chained one with two IPv4 addresses) has one record per
// address; readers merge the records of one interface into one.
//
// networks.json and every record carry a format version ("version",
// NetworksVersion and RecordVersion; internal/stateformat): files written
// before it are version 1, and a file in a newer format fails the read
// with a message naming it, rather than being misread. last_reserved
// holds one address in text and has no version.
//
// Every file is written whole to an unnamed file in the same directory
// (O_TMPFILE), then linked in under its name when that is free, or under a
// temporary name renamed over the target (internal/atomicfile): after a
// process crash a file is either the old or the new version, never torn.
// Records are compact JSON; readers take indented ones too (older releases
// wrote them so). Nothing is fsynced: no pod survives a power loss, the
// runtime re-creates them all with fresh ADDs, and CNI GC drops the
// records of the dead ones (see writeFileAtomic). Temporary files start
// with a dot and are ignored by readers; since every writer holds the
// exclusive lock, one found by a writer is a crashed writer's leftover and
// is removed.
package ipam
