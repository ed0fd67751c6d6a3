package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits checked by Validate.
const (
	MaxVNI    = 1<<24 - 1 // VXLAN's 24-bit VNI
	MinMTU    = 576       // the IPv4 minimum every host must accept
	MaxMTU    = 9000
	MaxGRTime = 4095 // the 12-bit Restart Time of RFC 4724
	// maxSocketPath is sun_path's 108 bytes minus the terminating NUL.
	maxSocketPath = 107

	// Gossip timings: below 10 ms a probe cannot leave room for the
	// indirect probes within one interval on a busy host; past a minute
	// (or a suspicion that long) failure detection is effectively off.
	MinProbeInterval  = 10 * time.Millisecond
	MaxProbeInterval  = time.Minute
	MaxSuspicionMult  = 100
	MinRejoinInterval = time.Second
)

// Validate checks the whole config and returns every problem found, joined
// with errors.Join, each a *FieldError naming its key path. An empty
// underlay.address or bgp.routerID is valid: Resolve fills them on the host.
// With kubernetes.enabled the networks' blocks are empty: control/kube
// fills them from the Node.
func (c *Config) Validate() error {
	var p problems
	if c.NodeName == "" {
		p.add("nodeName", "must be set (the hostname is unknown)")
	}
	if c.Mode != ModeOverlay && c.Mode != ModeRouted {
		p.add("mode", "must be %q or %q, got %q", ModeOverlay, ModeRouted, c.Mode)
	}
	own, ownOK := p.underlay(c)
	p.bgp(&c.BGP, own, ownOK)
	p.discovery(&c.Discovery)
	p.networks(c.Networks, c.Mode, c.Kubernetes.Enabled)
	p.absPath("stateDir", c.StateDir)
	if p.absPath("api.socket", c.API.Socket) && len(c.API.Socket) > maxSocketPath {
		p.add("api.socket", "is %d bytes long, more than a unix socket path can hold (%d)", len(c.API.Socket), maxSocketPath)
	}
	if c.Metrics.Listen != "" {
		p.hostPort("metrics.listen", c.Metrics.Listen)
	}
	p.cni(&c.CNI)
	if c.Kubernetes.Kubeconfig != "" {
		p.absPath("kubernetes.kubeconfig", c.Kubernetes.Kubeconfig)
	}
	if _, ok := parseLevel(c.LogLevel); !ok {
		p.add("logLevel", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if err := CheckLogFormat(c.LogFormat); err != nil {
		p.add("logFormat", "%v", err)
	}
	if _, err := ParseMemoryLimit(c.MemoryLimit); err != nil {
		p.add("memoryLimit", "%v", err)
	}
	return p.err()
}

// problems collects FieldErrors in the order of the file's keys.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }

// underlay checks underlay.address and returns it when it is set and valid.
func (p *problems) underlay(c *Config) (netip.Addr, bool) {
	if c.Underlay.Address == "" {
		return netip.Addr{}, false
	}
	return p.unicast("underlay.address", c.Underlay.Address)
}

func (p *problems) routerID(b *BGP, own netip.Addr, ownOK bool) {
	switch id := b.RouterID; {
	case id != "":
		a, err := netip.ParseAddr(id)
		if err != nil || !a.Is4() || a.IsUnspecified() {
			p.add("bgp.routerID", "must be an IPv4 address, got %q", id)
		}
	case ownOK && !own.Is4():
		p.add("bgp.routerID", "must be set: underlay.address %s is not IPv4", own)
	}
}

func (p *problems) peers(peers []Peer, own netip.Addr, ownOK bool) {
	first := map[netip.Addr]int{}
	for i, peer := range peers {
		path := fmt.Sprintf("bgp.peers[%d]", i)
		a, ok := p.unicast(path+".address", peer.Address)
		if peer.ASN == 0 {
			p.add(path+".asn", "must be set")
		}
		p.password(path, peer)
		if !ok {
			continue
		}
		if j, dup := first[a]; dup {
			p.add(path+".address", "%s is a duplicate of bgp.peers[%d]", a, j)
			continue
		}
		first[a] = i
		if ownOK && a == own {
			p.add(path+".address", "%s is this host's own underlay.address", a)
		}
	}
}

// unicast parses an address a host can have: not 0.0.0.0, not multicast,
// no IPv6 zone.
func (p *problems) unicast(path, s string) (netip.Addr, bool) {
	if s == "" {
		p.add(path, "must be set")
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.add(path, "must be an IP address, got %q", s)
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() {
		p.add(path, "%s is not a unicast address", a)
		return netip.Addr{}, false
	}
	return a, true
}

// bgp checks the bgp keys; own is this host's underlay address, if known.
func (p *problems) bgp(b *BGP, own netip.Addr, ownOK bool) {
	switch b.ASN {
	case 0:
		p.add("bgp.asn", "must be set (1..4294967295)")
	case 23456, 65535, 4294967295:
		// AS_TRANS (RFC 6793) and the last ASNs (RFC 7300) are reserved.
		p.add("bgp.asn", "%d is reserved", b.ASN)
	}
	p.routerID(b, own, ownOK)
	if b.ListenPort < -1 || b.ListenPort > 65535 {
		p.add("bgp.listenPort", "must be 1..65535, 0 (any free port) or -1 (do not listen), got %d", b.ListenPort)
	}
	// RFC 4271: the hold time is 0 (no keepalives) or at least 3 seconds.
	if b.HoldTime != 0 && (b.HoldTime < 3 || b.HoldTime > 65535) {
		p.add("bgp.holdTime", "must be 0 or 3..65535 seconds, got %d", b.HoldTime)
	}
	if b.GracefulRestartTime > MaxGRTime {
		p.add("bgp.gracefulRestartTime", "must be 0..%d seconds, got %d", MaxGRTime, b.GracefulRestartTime)
	}
	p.peers(b.Peers, own, ownOK)
	p.importPrefixes(b.ImportPrefixes)
	p.reflection(b)
}

// reflection checks bgp.routeReflector and the peers' routeReflectorClient.
func (p *problems) reflection(b *BGP) {
	rr := b.RouteReflector
	if id := rr.ClusterID; id != "" {
		a, err := netip.ParseAddr(id)
		if err != nil || !a.Is4() || a.IsUnspecified() {
			p.add("bgp.routeReflector.clusterID", "must be an IPv4 address, got %q", id)
		} else if !rr.Enabled {
			p.add("bgp.routeReflector.clusterID", "is set but bgp.routeReflector.enabled is false")
		}
	}
	for i, peer := range b.Peers {
		if !peer.RouteReflectorClient {
			continue
		}
		path := fmt.Sprintf("bgp.peers[%d].routeReflectorClient", i)
		if !rr.Enabled {
			p.add(path, "needs bgp.routeReflector.enabled: true (only a reflector has clients)")
		}
		if peer.ASN != 0 && peer.ASN != b.ASN {
			p.add(path, "the peer's asn %d is not bgp.asn %d: route reflection is within one AS (iBGP)", peer.ASN, b.ASN)
		}
	}
}

// importPrefixes checks bgp.importPrefixes: IPv4 or IPv6 CIDR prefixes
// without host bits, each once. An entry matches exactly itself, so a
// prefix with host bits would match nothing a peer can send.
func (p *problems) importPrefixes(list []string) {
	first := map[netip.Prefix]int{}
	for i, s := range list {
		path := fmt.Sprintf("bgp.importPrefixes[%d]", i)
		pfx, err := netip.ParsePrefix(s)
		if err != nil || pfx.Addr().Zone() != "" {
			p.add(path, "must be a CIDR prefix like 0.0.0.0/0 or 2001:db8::/32, got %q", s)
			continue
		}
		if pfx.Addr().Is4In6() {
			p.add(path, "%s: write IPv4 prefixes in dotted form", pfx)
			continue
		}
		if m := pfx.Masked(); m != pfx {
			p.add(path, "%s has host bits set (did you mean %s?)", pfx, m)
			continue
		}
		if j, dup := first[pfx]; dup {
			p.add(path, "%s is a duplicate of bgp.importPrefixes[%d]", pfx, j)
			continue
		}
		first[pfx] = i
	}
}

func (p *problems) discovery(d *Discovery) {
	if d.BindPort < 0 || d.BindPort > 65535 {
		p.add("discovery.bindPort", "must be 0..65535, got %d", d.BindPort)
	}
	for i, j := range d.Join {
		path := fmt.Sprintf("discovery.join[%d]", i)
		if j == "" || strings.ContainsAny(j, " \t\n") {
			p.add(path, "must be a host or host:port, got %q", j)
			continue
		}
		// A bare IPv6 address has colons too: only check the port of
		// something that is not an address.
		if _, err := netip.ParseAddr(j); err != nil && strings.Contains(j, ":") {
			p.hostPort(path, j)
		}
	}
	// The file itself (present, not world-readable, keys of the right
	// length) is checked when the agent starts: --check may run elsewhere.
	if d.SecretKeyFile != "" && p.absPath("discovery.secretKeyFile", d.SecretKeyFile) &&
		strings.HasSuffix(d.SecretKeyFile, "/") {
		p.add("discovery.secretKeyFile", "must name a file, not a directory, got %q", d.SecretKeyFile)
	}
	p.probing(d)
	if d.RejoinInterval < MinRejoinInterval {
		p.add("discovery.rejoinInterval", "must be at least %s, got %s", MinRejoinInterval, d.RejoinInterval)
	}
}

// probing checks memberlist's failure-detection timings.
func (p *problems) probing(d *Discovery) {
	if d.ProbeInterval < MinProbeInterval || d.ProbeInterval > MaxProbeInterval {
		p.add("discovery.probeInterval", "must be %s..%s, got %s", MinProbeInterval, MaxProbeInterval, d.ProbeInterval)
	}
	// A probe waits ProbeTimeout for a direct answer, then asks others to
	// probe for the rest of the interval: a timeout as long as the
	// interval leaves them no time.
	switch {
	case d.ProbeTimeout <= 0:
		p.add("discovery.probeTimeout", "must be more than 0, got %s", d.ProbeTimeout)
	case d.ProbeTimeout >= d.ProbeInterval:
		p.add("discovery.probeTimeout", "must be shorter than discovery.probeInterval (%s), got %s", d.ProbeInterval, d.ProbeTimeout)
	}
	if d.SuspicionMult < 1 || d.SuspicionMult > MaxSuspicionMult {
		p.add("discovery.suspicionMult", "must be 1..%d, got %d", MaxSuspicionMult, d.SuspicionMult)
	}
}

// cni checks the conflist paths: both or neither. The source's content is
// checked when the agent starts (control/cniconf).
func (p *problems) cni(c *CNI) {
	src, dst := c.ConflistSource, c.ConflistDest
	switch {
	case src == "" && dst == "":
		return
	case src == "":
		p.add("cni.conflistSource", "must be set with cni.conflistDest (%s): the conflist to install there", dst)
	case dst == "":
		p.add("cni.conflistDest", "must be set with cni.conflistSource (%s): where to install it, e.g. /etc/cni/net.d/10-vxbgp.conflist", src)
	}
	if src != "" {
		p.absPath("cni.conflistSource", src)
	}
	if dst != "" && p.absPath("cni.conflistDest", dst) && src != "" && filepath.Clean(src) == filepath.Clean(dst) {
		p.add("cni.conflistDest", "must differ from cni.conflistSource, got %q", dst)
	}
}

// hostPort checks a listen or dial address: host:port with a numeric port;
// the host may be empty (all addresses).
func (p *problems) hostPort(path, s string) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		p.add(path, "must be host:port, got %q", s)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add(path, "port must be 0..65535, got %q", port)
	}
}

// absPath reports whether s is an absolute path: the agent runs from
// systemd or a container, where a relative path means nothing useful.
func (p *problems) absPath(path, s string) bool {
	if !filepath.IsAbs(s) {
		p.add(path, "must be an absolute path, got %q", s)
		return false
	}
	return true
}
