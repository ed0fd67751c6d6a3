package overlay

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// NAT is the pod egress the agent programs (networks[].natOutgoing):
// packets from a pod network to destinations outside every pool leave
// with the host's address (masquerade), as Calico's natOutgoing and
// flannel's --ip-masq do. The zero NAT is none: the agent then owns no
// NAT table at all.
//
// It is one unit in the kernel (one nftables table, rewritten in one
// transaction), so it is one object here: set or deleted whole.
type NAT struct {
	// Rules are sorted by Src (State.SetNAT and NewNAT sort them).
	Rules []Masquerade
}

// Masquerade is one rule: packets from Src to anywhere outside every
// prefix of Except (the pools of Src's family: every network's subnet or
// subnet6) are masqueraded. Network names the network it serves (the
// rule's comment).
//
// A Dataplane that finds something in its NAT table it did not write (a
// rule of another shape, another chain) reports it as a Masquerade with
// an invalid Src, so that what it observes never equals a desired NAT and
// the next pass rewrites the table.
type Masquerade struct {
	Network string
	Src     netip.Prefix
	Except  []netip.Prefix // sorted, same family as Src
}

// NewNAT returns the NAT of rules, normalised: prefixes masked, Except
// sorted without duplicates, rules sorted by Src. The caller's slices are
// not modified.
func NewNAT(rules ...Masquerade) NAT {
	if len(rules) == 0 {
		return NAT{}
	}
	out := make([]Masquerade, len(rules))
	for i, r := range rules {
		ex := make([]netip.Prefix, len(r.Except))
		for j, p := range r.Except {
			ex[j] = p.Masked()
		}
		slices.SortFunc(ex, comparePrefix)
		out[i] = Masquerade{Network: r.Network, Src: r.Src.Masked(), Except: slices.Compact(ex)}
	}
	slices.SortFunc(out, func(a, b Masquerade) int {
		return cmp.Or(comparePrefix(a.Src, b.Src), strings.Compare(a.Network, b.Network))
	})
	return NAT{Rules: out}
}

// IsZero reports whether n is no NAT at all.
func (n NAT) IsZero() bool { return len(n.Rules) == 0 }

// Equal reports whether two NATs hold the same rules in the same order.
func (n NAT) Equal(o NAT) bool { return slices.EqualFunc(n.Rules, o.Rules, Masquerade.Equal) }

// Equal reports whether two rules are the same.
func (m Masquerade) Equal(o Masquerade) bool {
	return m.Network == o.Network && m.Src == o.Src && slices.Equal(m.Except, o.Except)
}

// Clone returns a copy that shares no memory with n.
func (n NAT) Clone() NAT {
	if n.Rules == nil {
		return NAT{}
	}
	c := NAT{Rules: make([]Masquerade, len(n.Rules))}
	for i, r := range n.Rules {
		c.Rules[i] = Masquerade{Network: r.Network, Src: r.Src, Except: slices.Clone(r.Except)}
	}
	return c
}

// String renders the rule as nft lists it, prefixed "nat":
//
//	nat ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade fully-random comment "pods"
func (m Masquerade) String() string {
	if !m.Src.IsValid() {
		return "nat <a rule vxbgp did not write>"
	}
	fam := "ip"
	if m.Src.Addr().Is6() {
		fam = "ip6"
	}
	var b strings.Builder
	b.WriteString("nat " + fam + " saddr " + m.Src.String())
	for _, p := range m.Except {
		b.WriteString(" " + fam + " daddr != " + p.String())
	}
	b.WriteString(" masquerade fully-random comment \"" + m.Network + "\"")
	return b.String()
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
