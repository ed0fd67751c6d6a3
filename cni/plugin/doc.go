// Package plugin is the vxbgp-cni CNI plugin: it attaches a pod to the
// bridge vxbgpd keeps for a network, with addresses from this host's blocks.
//
// ADD, for the network of the config's "network" key, which has an IPv4
// pool, an IPv6 one or both (ipam.Pool: subnet, block, gateway):
//
//	allocate an address from each pool's block in the ipam store, all at
//	    once (never a gateway)
//	ip link add vxbXXXXXXXXXXX mtu M type veth peer name <CNI_IFNAME> netns <pod>
//	ip link set vxbXXXXXXXXXXX master vxbr<VNI> up
//	(pod) sysctl net.ipv6.conf.<CNI_IFNAME>.disable_ipv6=0   with an IPv6 address,
//	      =1 without one (no link-local multicast flooded to every host)
//	(pod) ip link set <CNI_IFNAME> up
//	for each pool:
//	(pod) ip addr add <ip>/<subnet bits> dev <CNI_IFNAME> [nodad, IPv6]
//	(pod) ip route add default via <gateway> dev <CNI_IFNAME>
//	record the pod MAC, host veth and netns in the store, then PUT the
//	endpoint to the agent
//
// The result lists every address with its gateway, and a default route
// per family. CHECK verifies each pool's address and default route.
//
// The pod gets the whole subnet's prefix length, not its block's: every pod
// of the network, on any host, is on-link, and the bridge answers for the
// anycast gateway with the same MAC everywhere, so a pod keeps its gateway
// wherever it runs. The peer is created directly inside the pod's netns
// under its final name, so no temporary name can collide in the host.
//
// The host veth is named "vxb" + 11 hex digits of sha1(containerID+ifName):
// stable, so DEL finds it without the pod's netns (which may be gone), and
// unique per attachment, so a leftover from a crashed ADD of the same
// attachment is recognised as ours and replaced.
//
// The store under stateDir is the truth; the agent reads it when it starts
// and periodically, so an announcement the agent missed (it was down, or
// slow) is only late, never lost, and ADD does not fail for it.
//
// Network config keys beyond the CNI spec's:
//
//	"network"   name of the agent's network; default: the first in networks.json
//	"socket"    the agent's API socket; default /run/vxbgp/vxbgp.sock
//	"mtu"       the pod interface MTU; default: the network's, else the bridge's
//	"stateDir"  the agent's state directory (networks.json, ipam/); default
//	            /var/lib/vxbgp. An addition to INTERFACE.md: it must match
//	            the agent's stateDir.
//
//	"chained"   true: another plugin made the interface; only record and
//	            announce it (chained.go)
//
//	"logFile"   absolute path: every verb appends its lines and outcome
//	            there (log.go); default none: only warnings, to stderr
//	"logLevel"  of the file: debug, info (default), warn, error
//	"logFormat" of the file: text (default) or json
//
// STATUS is code 50 when this host cannot attach pods (no networks.json,
// network not in it, bridge missing) and while the agent is unreachable
// or not ready (status.go). GC detaches, as DEL would, the attachments of this CNI
// network ("name", recorded with every allocation) missing from
// cni.dev/valid-attachments, and deletes host veths named like ours that
// no allocation accounts for (gc.go).
//
// Error codes: an unusable config (malformed JSON, a missing cniVersion,
// name or type, unknown network, bad field, no networks.json) is 7
// (invalid network config) and names the key; Main checks the JSON before
// skel does, which would answer 6 or 1. A network whose bridge does not
// exist yet (the agent has not run) is 11 (try again later). A state file
// (networks.json, an ipam record) in a newer format than this plugin
// reads is 6 (failed to decode content): a newer release wrote it, and
// neither the config nor a retry is at fault.
package plugin
