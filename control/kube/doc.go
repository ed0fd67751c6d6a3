// Package kube makes Kubernetes Node objects a source of vxbgpd's
// configuration and peers (kubernetes.enabled), so that one ConfigMap
// serves every node:
//
//   - this host's blocks are its Node's spec.podCIDRs: the IPv4 one is
//     networks[i].block of the network whose subnet contains it, the IPv6
//     one networks[i].block6 of the network whose subnet6 does;
//   - an empty underlay.address is the Node's InternalIP (IPv4 first);
//   - the other Nodes' InternalIPs are iBGP peers with bgp.asn (a
//     control/peer source named "kubernetes").
//
// A Node informer (list and watch of nodes: all the RBAC it needs) feeds
// both. Start completes the config before the agent builds anything: a
// Node without podCIDRs yet (the controller-manager has not assigned
// them) or without an InternalIP makes it wait, not exit, and say why in
// the log and on /readyz, so a DaemonSet pod waits instead of
// crash-looping. podCIDRs never change once set, so nothing needs
// rebuilding later; this host's InternalIP can, and when underlay.address
// came from it the peer source fails, ending the agent so that its
// restart takes the new address everywhere (device, sessions, next hops).
package kube
