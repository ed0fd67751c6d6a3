package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Located is a MAC and IP behind a host: a pod, or a StoredEndpoint.
type Located struct {
	Name        string
	ContainerID string // the CNI container ID it was attached for
	MAC         string // lowercase
	IP          string
	Host        *Host
}

// Want is what the whole lab should be: each host's mode (a host not
// listed runs Options.Mode) and every live endpoint.
type Want struct {
	Modes     map[*Host]string
	Endpoints []Located
}

func (w Want) mode(l *Lab, h *Host) string {
	if m, ok := w.Modes[h]; ok {
		return m
	}
	return l.opts.Mode
}

// Located lists the lab's live pods as endpoints.
func (l *Lab) Located() []Located {
	var out []Located
	for _, p := range l.Pods() {
		out = append(out, Located{Name: p.Name, ContainerID: p.ContainerID, MAC: p.MAC, IP: p.IP.String(), Host: p.Host})
	}
	return out
}

// ExpectedKernel returns, one line each in the form of AgentKernel, what
// h's agent must have programmed for w and nothing else (see
// control/desired): in overlay mode the VXLAN device, for every endpoint
// behind another overlay host its two FDB entries (vxlan "self" with the
// host's VTEP, bridge "master") and its NOARP neighbour, one flood entry
// per other overlay host, and a route to each routed host's block via its
// address; in routed mode no VXLAN device and a route to every other
// host's block. The bridge is there in both.
func (l *Lab) ExpectedKernel(h *Host, w Want) []string {
	out := []string{"link " + BridgeDev}
	overlay := w.mode(l, h) == "overlay"
	if overlay {
		out = append(out, "link "+VXLANDev)
	}
	for _, y := range l.Hosts {
		if y == h {
			continue
		}
		if !overlay || w.mode(l, y) != "overlay" {
			out = append(out, fmt.Sprintf("route %s via %s", y.Block(), y.Addr))
			continue
		}
		out = append(out, fdbLine(FDBEntry{MAC: floodMAC, Dev: VXLANDev, Dst: y.Addr, Flags: []string{"self"}}))
	}
	if !overlay {
		return sortedLines(out)
	}
	for _, e := range w.Endpoints {
		if e.Host == h || w.mode(l, e.Host) != "overlay" {
			continue
		}
		out = append(out,
			fdbLine(FDBEntry{MAC: e.MAC, Dev: VXLANDev, Dst: e.Host.Addr, Flags: []string{"self", "extern_learn"}}),
			fdbLine(FDBEntry{MAC: e.MAC, Dev: VXLANDev, Master: BridgeDev, Flags: []string{"extern_learn"}}),
			neighLine(e.IP, BridgeDev, e.MAC, true))
	}
	return sortedLines(out)
}

// AgentKernel returns what namespace ns holds of the kind an agent
// programs, one line each: our links ("link vxbr100", "link vxlan100"),
// every FDB entry with a remote destination or extern_learn, on any
// device ("fdb MAC dev D [dst X] [master M] [self] [extern_learn]"), every
// IPv4 neighbour that is NOARP or extern_learn ("neigh IP dev D lladdr M
// [noarp]"), and every route of the agent's protocol ("route DST via
// GW..."). What the kernel makes by itself (a bridge's and its ports'
// own MACs, learnt ARP entries) is left out.
func AgentKernel(ctx context.Context, ns string) ([]string, error) {
	var links []string
	if _, err := IP(ctx, ns, "link", "show", "dev", BridgeDev); err == nil {
		links = append(links, BridgeDev)
	}
	devs, err := VXLANDevices(ctx, ns)
	if err != nil {
		return nil, err
	}
	links = append(links, devs...)
	fdbOut, err := Bridge(ctx, ns, "-j", "fdb", "show")
	fdb, err := decodeDump(ns, "fdb", fdbOut, err, func(s string) ([]FDBEntry, error) { return decodeFDB(s, "") })
	if err != nil {
		return nil, err
	}
	neighOut, err := IP(ctx, ns, "-j", "-4", "neigh", "show")
	neigh, err := decodeDump(ns, "neighbours", neighOut, err, decodeNeighAll)
	if err != nil {
		return nil, err
	}
	routes, err := AgentRoutes(ctx, ns)
	if err != nil {
		return nil, err
	}
	return agentLines(links, fdb, neigh, routes), nil
}

// agentLines picks and writes AgentKernel's lines from the dumps.
func agentLines(links []string, fdb []FDBEntry, neigh []NeighEntry, routes []KernelRoute) []string {
	var out []string
	for _, l := range links {
		out = append(out, "link "+l)
	}
	for _, e := range fdb {
		if e.Dst != "" || e.Has("extern_learn") {
			out = append(out, fdbLine(e))
		}
	}
	for _, n := range neigh {
		if n.ExternLearn || n.HasState("NOARP") {
			out = append(out, neighLine(n.IP, n.Dev, n.LLAddr, n.HasState("NOARP")))
		}
	}
	for _, r := range routes {
		out = append(out, fmt.Sprintf("route %s via %s", r.Dst, strings.Join(r.Gateways(), " ")))
	}
	return sortedLines(out)
}

// KernelDiff compares h's kernel with ExpectedKernel: missing lines are
// expected and absent, extra ones present and not expected (a line twice
// where it should be once is extra once).
func (l *Lab) KernelDiff(ctx context.Context, h *Host, w Want) (missing, extra []string, err error) {
	got, err := AgentKernel(ctx, h.NS)
	if err != nil {
		return nil, nil, err
	}
	missing, extra = DiffLines(l.ExpectedKernel(h, w), got)
	return missing, extra, nil
}

// DiffLines compares two multisets of lines: what want has more of is
// missing, what got has more of is extra; both sorted.
func DiffLines(want, got []string) (missing, extra []string) {
	n := map[string]int{}
	for _, s := range want {
		n[s]++
	}
	for _, s := range got {
		n[s]--
	}
	for s, c := range n {
		for ; c > 0; c-- {
			missing = append(missing, s)
		}
		for ; c < 0; c++ {
			extra = append(extra, s)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra
}

// fdbLine is an FDB entry in AgentKernel's form: only the flags that say
// who made it (self, extern_learn), in that order; the state is left out.
func fdbLine(e FDBEntry) string {
	s := "fdb " + strings.ToLower(e.MAC) + " dev " + e.Dev
	if e.Dst != "" {
		s += " dst " + e.Dst
	}
	if e.Master != "" {
		s += " master " + e.Master
	}
	for _, f := range []string{"self", "extern_learn"} {
		if e.Has(f) {
			s += " " + f
		}
	}
	return s
}

func neighLine(ip, dev, mac string, noarp bool) string {
	s := "neigh " + ip + " dev " + dev + " lladdr " + strings.ToLower(mac)
	if noarp {
		s += " noarp"
	}
	return s
}

func sortedLines(s []string) []string {
	slices.Sort(s)
	return s
}

// decodeNeighAll decodes `ip -j neigh show` of every device.
func decodeNeighAll(out string) ([]NeighEntry, error) {
	list, err := decodeNeigh(out, "")
	if err != nil {
		return nil, err
	}
	var devs []struct {
		Dev string `json:"dev"`
	}
	if s := strings.TrimSpace(out); s != "" {
		if err := json.Unmarshal([]byte(s), &devs); err != nil {
			return nil, fmt.Errorf("decode neighbours: %w", err)
		}
	}
	for i := range list {
		if i < len(devs) {
			list[i].Dev = devs[i].Dev
		}
	}
	return list, nil
}
