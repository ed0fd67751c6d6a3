package lab

import (
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/nftnat"
)

// NATTable reads the agent's NAT table (table inet vxbgp) in namespace
// ns, as the agent does; the zero NAT when there is none.
func NATTable(ns string) (overlay.NAT, error) {
	var c *nftnat.Conn
	if err := inNetns(ns, func() (err error) { c, err = nftnat.Open(); return err }); err != nil {
		return overlay.NAT{}, err
	}
	defer c.Close()
	return c.Observe()
}
