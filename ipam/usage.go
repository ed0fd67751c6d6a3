package ipam

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
)

// Usage is how much of one pool's block is taken on this host.
type Usage struct {
	Network string
	Block   netip.Prefix
	// Used counts the block's addresses that have a record file: the
	// file name is the allocation (a chained pod's address outside the
	// block is not the block's).
	Used uint64
	// Free counts the addresses Allocate may still hand out: the block's
	// usable addresses (not its network address, not its IPv4 broadcast)
	// minus the reserved gateway and Used. A float: an IPv6 /64 holds 2^64.
	Free float64
}

// Usage reports the usage of every pool's block of nets. It lists one
// directory per network and reads no file, without the lock: every
// record is created and removed by a rename or an unlink, so a listing
// sees each address either taken or not. Cheap enough for every scrape.
func (s *Store) Usage(nets []NetworkInfo) ([]Usage, error) {
	var out []Usage
	for _, n := range nets {
		if !ValidNetworkName(n.Name) {
			return nil, fmt.Errorf("ipam usage: invalid network name %q", n.Name)
		}
		entries, err := os.ReadDir(filepath.Join(s.dir, n.Name))
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("ipam usage of network %s: %w", n.Name, err)
		}
		for _, p := range n.Pools {
			block := p.Block.Masked()
			u := Usage{Network: n.Name, Block: block}
			reserved := uint64(0)
			if block.Contains(p.Gateway) && usable(block, p.Gateway) {
				reserved = 1
			}
			for _, e := range entries {
				if ip, ok := recordIP(e); ok && block.Contains(ip) {
					u.Used++
					if ip == p.Gateway {
						reserved = 0 // counted as used: one address is not taken twice
					}
				}
			}
			u.Free = math.Max(0, capacity(block)-float64(reserved)-float64(u.Used))
			out = append(out, u)
		}
	}
	return out, nil
}

// capacity counts the addresses of block that usable allows.
func capacity(block netip.Prefix) float64 {
	host := block.Addr().BitLen() - block.Bits()
	n := math.Ldexp(1, host)
	switch {
	case block.Addr().Is4() && block.Bits() >= 31:
		return n // RFC 3021: no network or broadcast address
	case block.Addr().Is4():
		return n - 2
	}
	return n - 1 // the subnet-router anycast address
}
