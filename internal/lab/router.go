package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// routerASN is a router's ASN unless its spec says otherwise.
const routerASN = 65000

// RouterSpec describes an FRR router on the underlay: a top-of-rack or
// fabric router speaking IPv4 unicast BGP (no EVPN) with the hosts.
type RouterSpec struct {
	ASN uint32 // default 65000; a host with another ASN is an eBGP peer
	// Hosts are the indexes (1-based) of the hosts that peer with the
	// router; nil means every host.
	Hosts []int
	// Networks are prefixes the router originates (`network`), whether or
	// not its kernel has a route for them.
	Networks []string
	// Server, e.g. "192.168.77.10/24", puts a server namespace behind the
	// router on a veth of its own: the server holds this address with a
	// default route via the prefix's first address, which the router holds.
	// The router does not announce it unless Networks says so.
	Server string
	// Password is the TCP MD5 password on every session (`neighbor X
	// password`); "" for none.
	Password string
	// Passive: the router never dials (`neighbor X passive`).
	Passive bool
	// ListenPort is bgpd's listen port (-p); 0 for 179. With another port
	// the hosts' dials (to 179) are refused and only the router dials.
	ListenPort int
	// GracefulRestart: `bgp graceful-restart` and `bgp graceful-restart
	// preserve-fw-state`: the router restarts gracefully (R and F bits)
	// and its zebra keeps bgpd's kernel routes while bgpd is down.
	GracefulRestart bool
	// Reflector makes the router a route reflector for the hosts it
	// serves (`neighbor X route-reflector-client`) in ipv4 unicast and in
	// l2vpn evpn, which it then speaks too. The hosts must be in its ASN.
	Reflector bool
}

// Router is an FRR instance named r1, r2, ... at 10.250.0.(200+k) with no
// L2VNI: only IPv4 unicast sessions with the hosts it serves, `no bgp
// ebgp-requires-policy` and `no bgp network import-check` (RECIPE gotchas 9
// and 17), and soft-reconfiguration inbound so that what each host sent is
// visible before policy (ReceivedRoutes).
type Router struct {
	*FRRInstance
	ASN  uint32
	Spec RouterSpec
	// ServerGW is the router's address on the server's link, "" without a
	// server.
	ServerGW string
}

func newRouter(l *Lab, k int, spec RouterSpec) *Router {
	if spec.ASN == 0 {
		spec.ASN = routerASN
	}
	f := newFRRInstance(l, fmt.Sprintf("r%d", k), k, fmt.Sprintf("%s%d", underlayPfx, 200+k), spec.Server != "")
	return &Router{FRRInstance: f, ASN: spec.ASN, Spec: spec}
}

// serves reports whether h peers with the router.
func (r *Router) serves(h *Host) bool {
	return r.Spec.Hosts == nil || slices.Contains(r.Spec.Hosts, h.Index)
}

// peers are the hosts the router serves, each with its ASN (the hosts'
// configs must be written already).
func (r *Router) peers() []frrPeer {
	var out []frrPeer
	for _, h := range r.lab.Hosts {
		if !r.serves(h) {
			continue
		}
		asn := uint32(ASN)
		if h.Config != nil {
			asn = h.Config.BGP.ASN
		}
		out = append(out, frrPeer{h.Addr, asn})
	}
	return out
}

// setup builds the server (if any), writes the configs and starts zebra,
// then bgpd.
func (r *Router) setup(ctx context.Context) error {
	var pfx netip.Prefix
	var gw netip.Addr
	if r.Spec.Server != "" {
		var err error
		pfx, err = netip.ParsePrefix(r.Spec.Server)
		if err != nil || !pfx.Addr().Is4() {
			return fmt.Errorf("router %s: server %q: not an IPv4 address/len", r.Name, r.Spec.Server)
		}
		gw = pfx.Masked().Addr().Next()
		if gw == pfx.Addr() {
			return fmt.Errorf("router %s: server %s must not be the first address of its prefix (the router's)", r.Name, pfx)
		}
		r.ServerIP, r.ServerGW = pfx.Addr().String(), gw.String()
	}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	if r.Spec.Server != "" {
		if err := ipBatch(ctx, r.NS, []string{
			"link add s1 type veth peer name eth0 netns " + r.ServerNS,
			fmt.Sprintf("addr add %s/%d dev s1", gw, pfx.Bits()),
			"link set s1 up",
		}); err != nil {
			return err
		}
		if err := ipBatch(ctx, r.ServerNS, []string{
			fmt.Sprintf("addr add %s dev eth0", pfx),
			"link set eth0 up",
			"route add default via " + gw.String(),
		}); err != nil {
			return err
		}
	}
	global := " no bgp ebgp-requires-policy\n no bgp network import-check\n"
	if r.Spec.GracefulRestart {
		global += " bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n"
	}
	for _, p := range r.peers() {
		if r.Spec.Password != "" {
			global += fmt.Sprintf(" neighbor %s password %s\n", p.addr, r.Spec.Password)
		}
		if r.Spec.Passive {
			global += fmt.Sprintf(" neighbor %s passive\n", p.addr)
		}
	}
	r.bgpPort = r.Spec.ListenPort
	if err := r.writeConfigs(r.ASN, global, r.peers(), r.addressFamily()); err != nil {
		return err
	}
	return r.start(ctx)
}

// addressFamily is bgpd.conf's ipv4 unicast block.
func (r *Router) addressFamily() string {
	var b strings.Builder
	b.WriteString(" address-family ipv4 unicast\n")
	for _, n := range r.Spec.Networks {
		fmt.Fprintf(&b, "  network %s\n", n)
	}
	for _, p := range r.peers() {
		fmt.Fprintf(&b, "  neighbor %s activate\n  neighbor %s soft-reconfiguration inbound\n", p.addr, p.addr)
		if r.Spec.Reflector {
			fmt.Fprintf(&b, "  neighbor %s route-reflector-client\n", p.addr)
		}
	}
	b.WriteString(" exit-address-family\n")
	if r.Spec.Reflector {
		b.WriteString(" address-family l2vpn evpn\n")
		for _, p := range r.peers() {
			fmt.Fprintf(&b, "  neighbor %s activate\n  neighbor %s route-reflector-client\n", p.addr, p.addr)
		}
		b.WriteString(" exit-address-family\n")
	}
	return b.String()
}

// RouterPath is one path of `show bgp ipv4 unicast json` (FRR 8.4).
type RouterPath struct {
	Valid    bool   `json:"valid"`
	Best     bool   `json:"bestpath"`
	PeerID   string `json:"peerId"` // the neighbour's address, "(unspec)" for our own
	ASPath   string `json:"path"`
	Weight   int    `json:"weight"`
	Nexthops []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
}

// Local reports whether the router originated the path itself.
func (p RouterPath) Local() bool { return p.PeerID == "" || strings.HasPrefix(p.PeerID, "(") }

// Table is `show bgp ipv4 unicast json`: prefix -> paths.
func (r *Router) Table(ctx context.Context) (map[string][]RouterPath, error) {
	var out struct {
		Routes map[string][]RouterPath `json:"routes"`
	}
	if err := r.vtyshJSON(ctx, "show bgp ipv4 unicast json", &out); err != nil {
		return nil, err
	}
	return out.Routes, nil
}

// ReceivedRoutes are the prefixes peer sent the router, before any policy
// or loop check (soft-reconfiguration inbound keeps them), sorted.
func (r *Router) ReceivedRoutes(ctx context.Context, peer string) ([]string, error) {
	var out struct {
		Received map[string]json.RawMessage `json:"receivedRoutes"`
	}
	if err := r.vtyshJSON(ctx, "show bgp ipv4 unicast neighbors "+peer+" received-routes json", &out); err != nil {
		return nil, err
	}
	var list []string
	for p := range out.Received {
		list = append(list, p)
	}
	sort.Strings(list)
	return list, nil
}

// Configure runs configuration commands in `router bgp ASN`, address-family
// ipv4 unicast, e.g. Configure(ctx, "no network 192.168.88.0/24").
func (r *Router) Configure(ctx context.Context, cmds ...string) error {
	argv := []string{"vtysh", "--vty_socket", r.Dir, "-c", "configure terminal",
		"-c", fmt.Sprintf("router bgp %d", r.ASN), "-c", "address-family ipv4 unicast"}
	for _, c := range cmds {
		argv = append(argv, "-c", c)
	}
	out, err := run(ctx, nil, nil, argv...)
	if err != nil {
		return fmt.Errorf("configure %s: %w", r.Name, err)
	}
	// vtysh exits 0 on some rejected lines and prints the complaint.
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("configure %s %q: %s", r.Name, cmds, s)
	}
	return nil
}
