package netlinkdp

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/nftnat"
)

// The pod egress NAT (overlay.NAT) is an nftables table, table inet
// vxbgp, programmed by overlay/nftnat over a netfilter netlink socket of
// its own, opened on first use in the Dataplane's namespace.
//
//	nft list table inet vxbgp

// natConn returns the nftables connection, opening it on first use: on
// the calling thread when that is in our namespace already (the agent's
// case: no setns, which would need CAP_SYS_ADMIN), else on a thread
// switched into it (tests, which run a Dataplane per namespace).
func (d *Dataplane) natConn() (*nftnat.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nat != nil {
		return d.nat, nil
	}
	var c *nftnat.Conn
	open := func() (err error) { c, err = nftnat.Open(); return err }
	runtime.LockOSThread()
	cur, err := netns.Get()
	same := err == nil && cur.Equal(d.ns)
	cur.Close()
	if same {
		err = open()
		runtime.UnlockOSThread()
	} else {
		runtime.UnlockOSThread()
		err = d.inNS(open)
	}
	if err != nil {
		return nil, err
	}
	d.nat = c
	return c, nil
}

// observeNAT reads our NAT table into st. A kernel without nf_tables has
// none (and Observe still works, for hosts that turn natOutgoing off).
func (d *Dataplane) observeNAT(st *overlay.State) error {
	c, err := d.natConn()
	if err == nil {
		st.NAT, err = c.Observe()
	}
	if errors.Is(err, nftnat.ErrUnavailable) {
		st.NAT = overlay.NAT{}
		return nil
	}
	return err
}

// setNAT replaces our NAT table with n, in one transaction.
func (d *Dataplane) setNAT(n overlay.NAT) error {
	c, err := d.natConn()
	if err == nil {
		err = c.Set(n)
	}
	return natError(err)
}

// natError names the key behind a failure to program the NAT table, and
// the way out when the kernel cannot have one.
func natError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nftnat.ErrUnavailable):
		return fmt.Errorf("natOutgoing: %w (set natOutgoing: false on every network to run without pod egress NAT)", err)
	}
	return fmt.Errorf("natOutgoing: %w", err)
}

// delNAT removes our NAT table; without nf_tables there is none.
func (d *Dataplane) delNAT() error {
	c, err := d.natConn()
	if err == nil {
		err = c.Delete()
	}
	if err != nil && !errors.Is(err, nftnat.ErrUnavailable) {
		return fmt.Errorf("natOutgoing off: %w", err)
	}
	return nil
}

// closeNAT closes the nftables socket; the table stays.
func (d *Dataplane) closeNAT() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nat != nil {
		d.nat.Close()
		d.nat = nil
	}
}
