// Package lab builds a multi-host vxbgp lab out of network namespaces on one
// machine, for the e2e tests, the demo (e2e/cmd/vxbgp-lab) and the
// benchmarks (bench/).
//
// Topology of one run (every name starts with the run ID, e.g. "vx1a2b"):
//
//	vx1a2b-ul   underlay: bridge "ul", one veth port per host (h1, h2, ..., f1)
//	vx1a2b-h1   vxbgp host: eth0 10.250.0.1/24 (VTEP, BGP source); vxbgpd runs here
//	vx1a2b-h1p1 pod on h1, created by the real vxbgp-cni binary
//	vx1a2b-f1   FRR host: eth0 10.250.0.101/24, zebra + bgpd, br100 + vxlan100
//	vx1a2b-f1s  the FRR host's "server" on br100, 10.244.200.10/16
//
// The addresses live only inside these namespaces, so every run can use the
// same ones. Nothing is created in the root namespace. Routers
// (Options.Routers, vx1a2b-r1 at 10.250.0.201) are FRR too: FRR hosts and
// routers embed one FRRInstance (zebra + bgpd, every path in its own
// directory) and differ only in their wiring and bgpd's address family.
//
// Latencies that must be exact come from netlink, not a poll loop: a Watch
// subscribes in a namespace before the action it times and stamps every
// entry with the arrival of the notification that first showed it (WatchFDB
// for the e2e tests; WatchNeigh and WatchRoutes take the benchmarks' own
// keys).
//
// Hosts peer in a static iBGP full mesh, or, in a discovery lab
// (Options.Discovery), find each other by gossip from one seed, h1, with no
// host in bgp.peers. A host dies as a powered-off one would
// (Host.PowerOff: its underlay port goes down, then its agent is killed,
// so its sessions go silent); WatchGone times its entries leaving the
// others' kernels.
//
// Everything a run creates is recorded in its work directory
// (<root>/<run ID>/: namespaces, PIDs of the daemons it started, configs,
// logs) before it is created, so Close, and CleanupStale after a crash, can
// remove exactly that and nothing else. Daemons are killed only after
// /proc/PID/cmdline shows they were started with a path inside the work
// directory; transient commands (tcpdump, bridge) are started with
// Pdeathsig so they die with the harness.
//
// A plain lab runs no tool but iproute2 (CoreTools): pings are the
// harness's own, ICMP echo requests (IPv4 and IPv6) from a raw socket
// opened on a thread inside the sender's namespace (Ping, PingMatrix,
// StartPing and StartLossPing share one echoRun), and sysctls are written
// to /proc/sys from inside the namespace. FRR hosts, captures and the
// benchmarks need their own tools, and their tests check for them.
package lab
