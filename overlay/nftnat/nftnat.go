// Package nftnat programs the agent's pod egress NAT (overlay.NAT) with
// nftables, through netlink (github.com/google/nftables), and reads it
// back.
//
// The agent owns exactly one table, inet vxbgp, and touches no other (not
// kube-proxy's, not the operator's, not firewalld's). As nft lists it:
//
//	table inet vxbgp {
//		chain postrouting {
//			type nat hook postrouting priority srcnat; policy accept;
//			ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 counter masquerade fully-random comment "pods"
//			ip6 saddr fd00:10:244::/48 ip6 daddr != fd00:10:244::/48 counter masquerade fully-random comment "pods"
//		}
//	}
//
// One rule per NATed pool; a packet from it to anywhere outside every
// pool of its family (every network's subnet or subnet6, NATed or not)
// leaves with the address of its outgoing interface (masquerade), with a
// random source port (fully-random, as Calico and flannel do, so that
// pods of many hosts behind one address do not collide). Pod-to-pod
// traffic, in either mode, keeps its addresses. Only a flow's first
// packet meets the chain: conntrack keeps its binding (and undoes it on
// the replies) for the flow's life, whatever happens to the table
// afterwards, so the agent's restarts and rewrites of the table disturb
// no flow.
//
// Set replaces the whole table in one nftables transaction (add table,
// delete table, add table, its chain and rules: nft -f's idiom), so there
// is never a moment without the rules, and anything someone added to the
// table is gone after it. Delete removes the table (add, then delete: it
// succeeds whether the table exists or not).
//
// Observe reads the table back into an overlay.NAT. Anything in it the
// agent did not write (another chain, a set, a rule of another shape,
// an edited hook or priority) shows as a Masquerade with an invalid Src,
// so that it never equals a desired NAT and the reconciler rewrites it.
package nftnat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// TableName and ChainName name what the agent owns: table inet vxbgp,
// chain postrouting.
const (
	TableName = "vxbgp"
	ChainName = "postrouting"
)

// ErrUnavailable is wrapped when the kernel has no nf_tables (or no
// netfilter netlink at all): no NAT table can exist, or be made.
var ErrUnavailable = errors.New("nf_tables is not available in this kernel")

// Conn is a netlink connection to nf_tables in one network namespace.
type Conn struct {
	c *nftables.Conn
}

// Open opens a connection in the network namespace of the calling
// thread: one socket, kept open, so every later call stays in that
// namespace whichever thread makes it. A caller that wants another
// namespace calls Open on a thread inside it (nothing here calls setns,
// which would need CAP_SYS_ADMIN).
func Open() (*Conn, error) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink socket: %w", unavailable(err))
	}
	return &Conn{c: c}, nil
}

// Close releases the socket. The table stays in the kernel.
func (c *Conn) Close() error {
	if c.c == nil {
		return nil
	}
	err := c.c.CloseLasting()
	c.c = nil
	return err
}

func table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

func (c *Conn) conn() (*nftables.Conn, error) {
	if c.c == nil {
		// nftables.Conn would fall back to a socket in the calling
		// thread's namespace: refuse instead.
		return nil, errors.New("nftables connection closed")
	}
	return c.c, nil
}

// Set makes the table hold exactly n's rules, in one transaction. A zero
// n deletes the table.
//
//	nft -f - <<< 'table inet vxbgp {}; delete table inet vxbgp; table inet vxbgp { chain postrouting { ... } }'
func (c *Conn) Set(n overlay.NAT) error {
	if n.IsZero() {
		return c.Delete()
	}
	cc, err := c.conn()
	if err != nil {
		return err
	}
	rules := make([][]expr.Any, len(n.Rules))
	for i, m := range n.Rules {
		if rules[i], err = encode(m); err != nil {
			return err
		}
	}
	t := table()
	cc.AddTable(t)
	cc.DelTable(t)
	cc.AddTable(t)
	ch := cc.AddChain(&nftables.Chain{
		Name: ChainName, Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
		Policy: policyRef(nftables.ChainPolicyAccept),
	})
	for i, m := range n.Rules {
		cc.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: rules[i],
			UserData: userdata.AppendString(nil, userdata.TypeComment, m.Network)})
	}
	if err := cc.Flush(); err != nil {
		return fmt.Errorf("replace nftables table inet %s (%d rules): %w", TableName, len(n.Rules), unavailable(err))
	}
	return nil
}

// Delete removes the table if it exists.
//
//	nft -f - <<< 'table inet vxbgp {}; delete table inet vxbgp'
func (c *Conn) Delete() error {
	cc, err := c.conn()
	if err != nil {
		return err
	}
	t := table()
	cc.AddTable(t)
	cc.DelTable(t)
	if err := cc.Flush(); err != nil {
		return fmt.Errorf("delete nftables table inet %s: %w", TableName, unavailable(err))
	}
	return nil
}

// Observe reads the table back; the zero NAT if there is none.
//
//	nft list table inet vxbgp
func (c *Conn) Observe() (overlay.NAT, error) {
	cc, err := c.conn()
	if err != nil {
		return overlay.NAT{}, err
	}
	tables, err := cc.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return overlay.NAT{}, fmt.Errorf("list nftables tables: %w", unavailable(err))
	}
	var t *nftables.Table
	for _, x := range tables {
		if x.Name == TableName {
			t = x
		}
	}
	if t == nil {
		return overlay.NAT{}, nil
	}
	foreign := overlay.Masquerade{} // what we did not write
	var out []overlay.Masquerade
	chains, err := cc.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return overlay.NAT{}, fmt.Errorf("list nftables chains: %w", err)
	}
	var ch *nftables.Chain
	for _, x := range chains {
		if x.Table.Name != TableName {
			continue
		}
		if x.Name == ChainName && ownChain(x) {
			ch = x
		} else {
			out = append(out, foreign)
		}
	}
	// The table's use count counts its chains, sets, objects and
	// flowtables: ours has one chain. (nftables v0.3.0 decodes the
	// kernel's big-endian count in host order.)
	use := binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, t.Use))
	if use != 1 || ch == nil {
		out = append(out, foreign)
	}
	if ch != nil {
		rules, err := cc.GetRules(t, ch)
		if err != nil {
			return overlay.NAT{}, fmt.Errorf("list nftables rules of inet %s %s: %w", TableName, ChainName, err)
		}
		for _, r := range rules {
			m, ok := decode(r.Exprs)
			if !ok {
				out = append(out, foreign)
				continue
			}
			m.Network, _ = userdata.GetString(r.UserData, userdata.TypeComment)
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		// An empty table of ours: still something to delete.
		out = append(out, foreign)
	}
	return overlay.NAT{Rules: out}, nil
}

// ownChain reports whether ch is the base chain Set makes.
func ownChain(ch *nftables.Chain) bool {
	return ch.Type == nftables.ChainTypeNAT &&
		ch.Hooknum != nil && *ch.Hooknum == *nftables.ChainHookPostrouting &&
		ch.Priority != nil && *ch.Priority == *nftables.ChainPriorityNATSource &&
		(ch.Policy == nil || *ch.Policy == nftables.ChainPolicyAccept)
}

func policyRef(p nftables.ChainPolicy) *nftables.ChainPolicy { return &p }

// unavailable wraps ErrUnavailable around the errors a kernel without
// nf_tables gives: no netfilter netlink family (EPROTONOSUPPORT,
// EAFNOSUPPORT), or an operation it does not support (EOPNOTSUPP). (A
// missing nf_tables subsystem behind nfnetlink answers EINVAL, which a
// malformed message gets too: that one is left as it is.)
func unavailable(err error) error {
	for _, e := range []syscall.Errno{unix.EPROTONOSUPPORT, unix.EAFNOSUPPORT, unix.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}
