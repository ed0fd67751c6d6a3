package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
)

// RouteProto is the route protocol number vxbgpd tags its kernel routes
// with (`ip route show proto 201`): the agent's own constant, so the tests
// follow it if it changes.
const RouteProto = overlay.RouteProtocol

// KernelRoute is one entry of `ip -j route show`. A multipath route has
// no Gateway but several Nexthops.
type KernelRoute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Dev      string `json:"dev"`
	Nexthops []struct {
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
		Weight  int    `json:"weight"`
	} `json:"nexthops"`
}

// Gateways are the route's next hops, sorted: one for a plain route, one
// per path for a multipath route.
func (r KernelRoute) Gateways() []string {
	var out []string
	if r.Gateway != "" {
		out = append(out, r.Gateway)
	}
	for _, nh := range r.Nexthops {
		if nh.Gateway != "" {
			out = append(out, nh.Gateway)
		}
	}
	slices.Sort(out)
	return out
}

// String is the route in `ip route` form.
func (r KernelRoute) String() string {
	s := r.Dst
	if len(r.Nexthops) > 0 {
		for _, nh := range r.Nexthops {
			s += " nexthop via " + nh.Gateway + " dev " + nh.Dev
		}
		return s
	}
	if r.Gateway != "" {
		s += " via " + r.Gateway
	}
	return s + " dev " + r.Dev
}

// AgentRoutes returns the main-table IPv4 routes with vxbgpd's protocol
// number in namespace ns.
func AgentRoutes(ctx context.Context, ns string) ([]KernelRoute, error) {
	return agentRoutes(ctx, ns, "-4", "routes")
}

// AgentRoutes6 is AgentRoutes for IPv6: the main-table IPv6 routes with
// vxbgpd's protocol number in namespace ns.
func AgentRoutes6(ctx context.Context, ns string) ([]KernelRoute, error) {
	return agentRoutes(ctx, ns, "-6", "IPv6 routes")
}

func agentRoutes(ctx context.Context, ns, family, what string) ([]KernelRoute, error) {
	out, err := IP(ctx, ns, "-j", family, "route", "show", "proto", strconv.Itoa(RouteProto))
	return decodeDump(ns, what, out, err, decodeRoutes)
}

func decodeRoutes(out string) ([]KernelRoute, error) {
	var list []KernelRoute
	if s := strings.TrimSpace(out); s != "" {
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("decode routes %q: %w", abbrev(s), err)
		}
	}
	return list, nil
}

// FindRoute returns the route to dst (e.g. "10.244.2.0/24"), if any.
func FindRoute(list []KernelRoute, dst string) (KernelRoute, bool) {
	for _, r := range list {
		if r.Dst == dst {
			return r, true
		}
	}
	return KernelRoute{}, false
}

// VXLANDevices returns the names of the vxlan devices in ns (`ip -d link
// show type vxlan`).
func VXLANDevices(ctx context.Context, ns string) ([]string, error) {
	out, err := IP(ctx, ns, "-j", "-d", "link", "show", "type", "vxlan")
	if err != nil {
		return nil, fmt.Errorf("list vxlan devices in %s: %w", ns, err)
	}
	var links []struct {
		Name string `json:"ifname"`
	}
	if s := strings.TrimSpace(out); s != "" {
		if err := json.Unmarshal([]byte(s), &links); err != nil {
			return nil, fmt.Errorf("decode links in %s: %w (%q)", ns, err, abbrev(s))
		}
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Name)
	}
	return names, nil
}

// OverlayLeftovers lists what overlay mode programs that is still in ns:
// vxlan devices, FDB entries that are extern_learn or have a remote dst,
// and neighbour entries on the pods' bridge that are extern_learn or
// NOARP. After a switch to routed mode the list must be empty. Entries the
// kernel makes by itself (a bridge's own and its ports' permanent MACs, the
// local pods' learned ARP entries) are not listed.
func OverlayLeftovers(ctx context.Context, ns string) ([]string, error) {
	var out []string
	devs, err := VXLANDevices(ctx, ns)
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		out = append(out, "vxlan device "+d)
	}
	fdbOut, err := Bridge(ctx, ns, "-j", "fdb", "show")
	if err != nil {
		return nil, fmt.Errorf("read fdb in %s: %w", ns, err)
	}
	fdb, err := decodeFDB(fdbOut, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ns, err)
	}
	for _, e := range fdb {
		if e.Has("extern_learn") || e.Dst != "" {
			out = append(out, "fdb "+e.String())
		}
	}
	if _, err := IP(ctx, ns, "link", "show", "dev", BridgeDev); err == nil {
		neigh, err := ReadNeigh(ctx, ns, BridgeDev)
		if err != nil {
			return nil, err
		}
		for _, n := range neigh {
			if n.ExternLearn || n.HasState("NOARP") {
				out = append(out, "neigh "+n.String())
			}
		}
	}
	return out, nil
}

// RemoteBlocks maps every other host's block to that host's underlay
// address.
func (l *Lab) RemoteBlocks(h *Host) map[string]string {
	return l.others(h, func(o *Host) (string, string) { return o.Block(), o.Addr })
}

// RemoteBlocks6 maps every other host's block6 to that host's IPv6
// underlay address (dual-stack labs).
func (l *Lab) RemoteBlocks6(h *Host) map[string]string {
	return l.others(h, func(o *Host) (string, string) { return o.Block6(), o.Addr6 })
}

// others maps kv's key to its value for every host but h.
func (l *Lab) others(h *Host, kv func(o *Host) (string, string)) map[string]string {
	out := map[string]string{}
	for _, o := range l.Hosts {
		if o != h {
			k, v := kv(o)
			out[k] = v
		}
	}
	return out
}

// MissingBlockRoutes lists the remote blocks h has no agent route for via
// their host's address (as "block via addr", or with what it has instead).
func (l *Lab) MissingBlockRoutes(ctx context.Context, h *Host) ([]string, error) {
	routes, err := AgentRoutes(ctx, h.NS)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, o := range l.Hosts {
		if o == h {
			continue
		}
		r, ok := FindRoute(routes, o.Block())
		switch {
		case !ok:
			missing = append(missing, o.Block()+" via "+o.Addr+" (none)")
		case !slices.Equal(r.Gateways(), []string{o.Addr}):
			missing = append(missing, o.Block()+" via "+o.Addr+" (have "+r.String()+")")
		}
	}
	return missing, nil
}

// WaitRouted waits until every host has an agent route (protocol
// RouteProto) for every other host's block via that host's address, and
// returns how long that took: routed mode's counterpart of WaitConverged.
func (l *Lab) WaitRouted(ctx context.Context) (time.Duration, error) {
	var checks []check
	for _, h := range l.Hosts {
		checks = append(checks, check{h.Name + " routes to every remote block", func(ctx context.Context) ([]string, error) {
			return l.MissingBlockRoutes(ctx, h)
		}})
	}
	return l.waitAll(ctx, "block routes converged", checks)
}

// WaitSynced waits until h's agent runs in mode, reports synced and has
// every configured peer established.
func (h *Host) WaitSynced(ctx context.Context, mode string) error {
	if err := h.WaitPeers(ctx); err != nil {
		return err
	}
	return Eventually(ctx, h.Name+" synced in mode "+mode, pollSlow, func(ctx context.Context) (bool, error) {
		if err := h.checkAlive(); err != nil {
			return false, err
		}
		st, err := h.Status(ctx)
		if err != nil {
			return false, err
		}
		if st.Mode != mode || !st.Synced {
			return false, fmt.Errorf("mode %q synced %v", st.Mode, st.Synced)
		}
		return true, nil
	})
}
