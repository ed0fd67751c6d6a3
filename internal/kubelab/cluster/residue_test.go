package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// victim is a deleted pod: where it ran and its MAC.
type victim struct {
	Workload
	node *Node
	mac  string
}

// gone is what a node must no longer hold: a VTEP (peer, next hop, flood
// and FDB destination), MACs, addresses and a block.
type gone struct {
	vtep, cidr string
	macs, ips  []string
}

// residue lists what node n still holds of g: in its agent (peers, routes,
// FDB, as vxbgpctl shows them) and its kernel (bridge fdb, ip neigh, ip
// route in the node's namespace).
func residue(ctx context.Context, n *Node, g gone) ([]string, error) {
	var out []string
	add := func(f string, args ...any) { out = append(out, n.Name+": "+fmt.Sprintf(f, args...)) }
	api := localapi.NewClient(agentSocket(n))
	hasMAC := func(m string) bool { return m != "" && slices.Contains(g.macs, strings.ToLower(m)) }
	hasIP := func(ip string) bool { return ip != "" && slices.Contains(g.ips, ip) }
	hasVTEP := func(a string) bool { return g.vtep != "" && a == g.vtep }
	peers, err := api.Peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s agent: %w", n.Name, err)
	}
	for _, p := range peers {
		if hasVTEP(p.Address) {
			add("agent peer %s %s", p.Address, p.State)
		}
	}
	routes, err := api.Routes(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s agent: %w", n.Name, err)
	}
	for _, r := range routes {
		if hasVTEP(r.NextHop) || hasVTEP(r.Source) || hasMAC(r.MAC) || hasIP(r.IP) || hasIP(strings.TrimSuffix(r.IP, "/32")) {
			add("agent route %s %s %s via %s from %s", r.Type, r.MAC, r.IP, r.NextHop, r.Source)
		}
	}
	fdb, err := api.FDB(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s agent: %w", n.Name, err)
	}
	for _, e := range fdb {
		if hasVTEP(e.VTEP) || hasMAC(e.MAC) || hasIP(e.IP) {
			add("agent fdb %s %s %s %s", e.Kind, e.MAC, e.IP, e.VTEP)
		}
	}
	for _, dev := range []string{lab.VXLANDev, lab.BridgeDev} {
		entries, err := lab.ReadFDB(ctx, n.Host.NS, dev)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if hasVTEP(e.Dst) || hasMAC(e.MAC) {
				add("kernel fdb %s", e)
			}
		}
	}
	neigh, err := lab.ReadNeigh(ctx, n.Host.NS, lab.BridgeDev)
	if err != nil {
		return nil, err
	}
	for _, e := range neigh {
		if hasMAC(e.LLAddr) || hasIP(e.IP) {
			add("kernel neigh %s", e)
		}
	}
	rt, err := lab.IP(ctx, n.Host.NS, "route", "show")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(rt, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && ((g.cidr != "" && f[0] == g.cidr) || (g.vtep != "" && slices.Contains(f, g.vtep)) || hasIP(f[0])) {
			add("kernel route %s", l)
		}
	}
	return out, nil
}

// agentSocket is the agent's API socket as the node's /run/vxbgp holds it.
func agentSocket(n *Node) string { return filepath.Join(n.Dir, "host/run/vxbgp/vxbgp.sock") }

// endpointOf is the endpoint of ip in n's agent.
func endpointOf(ctx context.Context, n *Node, ip string) (localapi.Endpoint, error) {
	eps, err := localapi.NewClient(agentSocket(n)).Endpoints(ctx)
	if err != nil {
		return localapi.Endpoint{}, err
	}
	for _, ep := range eps {
		if slices.Contains(ep.IPs, ip) {
			ep.MAC = strings.ToLower(ep.MAC)
			return ep, nil
		}
	}
	return localapi.Endpoint{}, fmt.Errorf("%s: no endpoint with %s", n.Name, ip)
}

// liveIPs are the addresses of the default namespace's pods now.
func liveIPs(ctx context.Context, c *Cluster) map[string]bool {
	out := map[string]bool{}
	pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return out
	}
	for _, p := range pods.Items {
		if p.Status.PodIP != "" {
			out[p.Status.PodIP] = true
		}
	}
	return out
}
