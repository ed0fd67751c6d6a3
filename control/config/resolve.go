package config

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vxbgp/vxbgp/internal/logfmt"
)

// ApplyMode applies the --mode flag: a non-empty mode overrides the file's.
// Validate reports a bad value as a problem of `mode`.
func (c *Config) ApplyMode(mode string) {
	if mode != "" {
		c.Mode = mode
	}
}

// Resolve fills the keys whose defaults depend on the host: an empty
// underlay.address becomes defaultAddr's answer (the agent looks up the
// address of the default-route interface), an empty bgp.routerID becomes
// underlay.address. It then checks the address-dependent keys again, since
// only now can it tell, say, that a peer is this host itself. Last it
// reads the secrets the config names by file (ReadSecrets): they are
// on the host too, and --check, which does not resolve, may run elsewhere.
func (c *Config) Resolve(defaultAddr func() (netip.Addr, error)) error {
	if c.Underlay.Address == "" {
		if defaultAddr == nil {
			return &FieldError{Path: "underlay.address", Msg: "must be set"}
		}
		a, err := defaultAddr()
		if err != nil {
			return fmt.Errorf("underlay.address: not set, and no default: %w", err)
		}
		c.Underlay.Address = a.Unmap().String()
	}
	if c.BGP.RouterID == "" {
		if a, err := netip.ParseAddr(c.Underlay.Address); err == nil && a.Unmap().Is4() {
			c.BGP.RouterID = a.Unmap().String()
		}
	}
	var p problems
	own, ownOK := p.underlay(c)
	p.routerID(&c.BGP, own, ownOK)
	p.peers(c.BGP.Peers, own, ownOK)
	if err := p.err(); err != nil {
		return err
	}
	return c.ReadSecrets()
}

// The accessors below are for a config that passed Validate and Resolve:
// they return zero values for what does not parse.

// UnderlayAddr is underlay.address: the VTEP, BGP source and next hop.
func (c *Config) UnderlayAddr() netip.Addr { return parseAddr(c.Underlay.Address) }

// RouterID is bgp.routerID.
func (c *Config) RouterID() netip.Addr { return parseAddr(c.BGP.RouterID) }

// Addr is the peer's address.
func (p Peer) Addr() netip.Addr { return parseAddr(p.Address) }

// ImportPrefixes is bgp.importPrefixes, parsed.
func (c *Config) ImportPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.BGP.ImportPrefixes {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Pool is one address family of a network: the cluster-wide subnet, this
// host's block of it (the pods' addresses) and the anycast gateway.
type Pool struct {
	Subnet, Block netip.Prefix
	Gateway       netip.Addr
}

// Pools returns the network's pools: the IPv4 one (subnet, block,
// gateway), then on a dual-stack network the IPv6 one (subnet6, block6,
// gateway6). Call it on a validated config.
func (n Network) Pools() []Pool {
	pool := func(subnet, block, gw string) Pool {
		p := Pool{Gateway: parseAddr(gw)}
		p.Subnet, _ = netip.ParsePrefix(subnet)
		p.Block, _ = netip.ParsePrefix(block)
		return p
	}
	out := []Pool{pool(n.Subnet, n.Block, n.Gateway)}
	if n.Subnet6 != "" {
		out = append(out, pool(n.Subnet6, n.Block6, n.Gateway6))
	}
	return out
}

// DualStack reports whether some network has subnet6.
func (c *Config) DualStack() bool {
	for _, n := range c.Networks {
		if n.Subnet6 != "" {
			return true
		}
	}
	return false
}

// Network returns the network called name; "" is the first one, the
// default of the CNI plugin's "network" key.

func (c *Config) Network(name string) (Network, bool) {
	for _, n := range c.Networks {
		if name == "" || n.Name == name {
			return n, true
		}
	}
	return Network{}, false
}

// Level is logLevel as a slog level (info when it is not valid).
func (c *Config) Level() slog.Level {
	l, _ := parseLevel(c.LogLevel)
	return l
}

func parseLevel(s string) (slog.Level, bool) {
	l, err := logfmt.ParseLevel(s)
	return l, err == nil
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}
