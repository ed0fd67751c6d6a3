// Package cniconf installs the CNI network config (the conflist) the
// container runtime reads, once the agent is ready, and keeps it there.
//
// Why the agent writes it (Cilium's write-cni-conf-when-ready), rather
// than an init container: kubelet reports a node NetworkNotReady while
// the runtime finds no network config in /etc/cni/net.d, and the
// scheduler then places no pod there. So no pod is attached before the
// agent has its bridges, its BGP table and a kernel that matches. CNI
// 1.1's STATUS verb would say the same, but containerd 1.6 never calls it
// (vxbgp-cni answers it too, for runtimes that do).
//
// The write is level triggered: every period the file at Dest must hold
// exactly Source's content with mode 0644, or it is written again
// (deleted by someone, edited, a ConfigMap update of Source). Each write
// is a temporary file in Dest's directory, fsynced, renamed over Dest: the
// runtime, which reads the directory whenever it likes, sees the old file
// or the new one, never a part. Readiness is latched: once the agent was
// ready the file is kept even if the agent becomes briefly unready (a
// failed kernel operation it retries). The file is never removed, not on
// SIGTERM either: a rolling update of the agent must not make the node
// NotReady, and pods attach without the agent anyway (the store is the
// truth; the agent catches up). Uninstalling removes it by hand.
//
// A Source that does not parse, or has no vxbgp-cni plugin, stops the
// agent at start (New); if it turns bad later (a ConfigMap edit), the
// installed file is kept and the problem logged until it is fixed.
package cniconf
