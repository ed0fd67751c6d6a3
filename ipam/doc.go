// Package ipam is the crash-safe address store of one host, shared by
// every concurrent vxbgp-cni process and by the agent.
//
// Layout under the state directory (default /var/lib/vxbgp):
//
//	networks.json                  what the agent configured (NetworkInfo); the plugin
//	                               reads it, so pods attach while the agent is down
//	ipam/.lock                     flock(2)ed around every read-modify-write
//	ipam/<network>/<ip>            one JSON Record per allocated address
//	ipam/<network>/last_reserved   the last address handed out, for round robin
//
// As in host-local, the file name is the allocation: an address is taken
// exactly when a file named after it exists, so there is no index that
// could disagree with the records after a crash. Addresses
// are handed out round robin from the one after last_reserved, so a
// released address is reused as late as possible (a peer may still have it
// in its ARP cache or FDB).
//
// Every file is written whole to a temporary file in the same directory and
// renamed over the target: after a process crash a file is either the old or
// the new version, never torn. Nothing is fsynced: no pod survives a power
// loss, the runtime re-creates them all with fresh ADDs, and CNI GC drops
// the records of the dead ones (see writeFileAtomic). Temporary files
// start with a dot and are ignored by readers; since every writer holds the
// exclusive lock, one found by a writer is a crashed writer's leftover and
// is removed.
package ipam
