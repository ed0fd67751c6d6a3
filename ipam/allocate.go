package ipam

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Owner is who an address is allocated to: one pod interface, attached
// through one CNI network config. The config's name is recorded so that GC
// for one config never frees another config's addresses.
type Owner struct {
	ContainerID string
	IfName      string
	CNINetwork  string // the "name" of the CNI network config; may be empty
}

// Allocate returns the addresses of owner's pod interface in network, one
// from each of blocks (one block per address family, in the order of the
// network's pools), allocating those it does not hold yet. It is
// idempotent: a repeated call returns the same addresses. All of them are
// allocated under one lock or none is: when a block is full the error
// wraps ErrExhausted and nothing was written. It never hands out a block's
// network address (the IPv6 subnet-router anycast address), its IPv4
// broadcast address, or reserved (the gateways). Each family keeps its
// own round-robin position.
func (s *Store) Allocate(network string, blocks []netip.Prefix, reserved []netip.Addr, owner Owner) ([]netip.Addr, error) {
	containerID, ifName := owner.ContainerID, owner.IfName
	if !ValidNetworkName(network) {
		return nil, fmt.Errorf("allocate in network %q: invalid network name", network)
	}
	blocks, err := checkBlocks(network, blocks)
	if err != nil {
		return nil, err
	}
	if containerID == "" || ifName == "" {
		return nil, fmt.Errorf("allocate in network %s: container ID and interface name are required", network)
	}
	var ips []netip.Addr
	err = s.withLock(unix.LOCK_EX, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		rec, held := find(all, containerID, ifName)
		if held && rec.Network != network {
			return fmt.Errorf("allocate in network %s: container %s interface %s already has %s in network %s",
				network, containerID, ifName, addrList(rec.IPs), rec.Network)
		}
		if !held {
			rec = Record{ContainerID: containerID, IfName: ifName, CNINetwork: owner.CNINetwork, Network: network,
				Created: time.Now().UTC().Truncate(time.Second)}
		}
		dir := filepath.Join(s.dir, network)
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return fmt.Errorf("allocate in network %s: %w", network, err)
		}
		var added []netip.Addr
		ips = make([]netip.Addr, len(blocks))
		for i, block := range blocks {
			if ips[i], err = heldIn(rec, block); err != nil {
				return err
			}
			if ips[i].IsValid() {
				continue
			}
			used, err := takenIn(dir, block)
			if err != nil {
				return err
			}
			ip, ok := pick(block, reserved, used, readLast(dir, lastReservedOf(block.Addr())))
			if !ok {
				return &ExhaustedError{Network: network, Block: block, InUse: len(used)}
			}
			ips[i] = ip
			added = append(added, ip)
		}
		if len(added) == 0 {
			return nil
		}
		rec.IPs = append(slices.Clone(rec.IPs), added...)
		slices.SortFunc(rec.IPs, netip.Addr.Compare)
		if err := s.write(rec); err != nil {
			return err
		}
		// Round robin is a preference, not a correctness matter: a lost
		// last_reserved only makes the next search start at the beginning.
		for _, ip := range added {
			if err := writeFileAtomic(dir, lastReservedOf(ip), []byte(ip.String()+"\n"), filePerm); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ips, nil
}

// heldIn returns the address rec already holds in block: zero if it holds
// none of block's family, an error if it holds one outside block (the
// block moved since).
func heldIn(rec Record, block netip.Prefix) (netip.Addr, error) {
	i := slices.IndexFunc(rec.IPs, func(ip netip.Addr) bool { return ip.Is4() == block.Addr().Is4() })
	if i < 0 {
		return netip.Addr{}, nil
	}
	for _, ip := range rec.IPs[i:] {
		if block.Contains(ip) {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("allocate in block %s of network %s: container %s interface %s already has %s",
		block, rec.Network, rec.ContainerID, rec.IfName, rec.IPs[i])
}

// checkBlocks checks Allocate's blocks, at most one per address family,
// and returns them masked.
func checkBlocks(network string, blocks []netip.Prefix) ([]netip.Prefix, error) {
	if len(blocks) == 0 {
		return nil, fmt.Errorf("allocate in network %s: no block", network)
	}
	out := make([]netip.Prefix, len(blocks))
	for i, b := range blocks {
		if !b.IsValid() || b.Addr().Is4In6() || b.Addr().Zone() != "" {
			return nil, fmt.Errorf("allocate in network %s: invalid block %s", network, b)
		}
		if slices.ContainsFunc(out[:i], func(o netip.Prefix) bool { return o.Addr().Is4() == b.Addr().Is4() }) {
			return nil, fmt.Errorf("allocate in network %s: block %s: one block per address family", network, b)
		}
		out[i] = b.Masked()
	}
	return out, nil
}

// lastReservedOf names the round-robin position file of ip's family.
func lastReservedOf(ip netip.Addr) string {
	if ip.Is4() {
		return lastReservedName
	}
	return lastReserved6Name
}

// ExhaustedError is Allocate's error for a full block; it matches
// ErrExhausted.
type ExhaustedError struct {
	Network string
	Block   netip.Prefix
	InUse   int // allocated addresses in the block
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("block %s of network %s exhausted: %d addresses in use", e.Block, e.Network, e.InUse)
}

// Unwrap lets errors.Is(err, ErrExhausted) match.
func (e *ExhaustedError) Unwrap() error { return ErrExhausted }

// takenIn returns the addresses of block that have a record file in dir,
// whether or not the file decodes: the name is the allocation. It removes
// temporary files on the way; the caller holds the exclusive lock, so no
// writer is alive to own them.
func takenIn(dir string, block netip.Prefix) (map[netip.Addr]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	used := make(map[netip.Addr]bool)
	for _, e := range entries {
		if isTemp(e.Name()) {
			_ = os.Remove(filepath.Join(dir, e.Name())) // best effort: readers skip it anyway
			continue
		}
		if ip, ok := recordIP(e); ok && block.Contains(ip) {
			used[ip] = true
		}
	}
	return used, nil
}

// readLast reads a round-robin position file of dir.
func readLast(dir, name string) netip.Addr {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(string(b)))
	if err != nil {
		return netip.Addr{}
	}
	return ip
}

// pick returns the first free address of block after last, wrapping around.
// It looks at no more than len(used)+len(reserved)+3 candidates: among that
// many consecutive addresses one is free unless the whole block is taken,
// which keeps a search in a huge IPv6 block short.
func pick(block netip.Prefix, reserved []netip.Addr, used map[netip.Addr]bool, last netip.Addr) (netip.Addr, bool) {
	first := block.Addr()
	start := first
	if last.IsValid() && block.Contains(last) {
		start = last.Next()
		if !start.IsValid() || !block.Contains(start) {
			start = first
		}
	}
	limit := len(used) + len(reserved) + 3
	if hostBits := first.BitLen() - block.Bits(); hostBits < 30 && 1<<hostBits < limit {
		limit = 1 << hostBits
	}
	ip := start
	for range limit {
		if usable(block, ip) && !used[ip] && !slices.Contains(reserved, ip) {
			return ip, true
		}
		ip = ip.Next()
		if !ip.IsValid() || !block.Contains(ip) {
			ip = first
		}
	}
	return netip.Addr{}, false
}

// usable reports whether ip may be given to a pod: not the block's network
// address (the IPv6 subnet-router anycast address) nor its IPv4 broadcast.
// /31 and /32 IPv4 blocks have neither (RFC 3021).
func usable(block netip.Prefix, ip netip.Addr) bool {
	if ip.Is4() && block.Bits() >= 31 {
		return true
	}
	if ip == block.Addr() {
		return false
	}
	return !ip.Is4() || ip != broadcast(block)
}

// broadcast returns the last address of an IPv4 block.
func broadcast(block netip.Prefix) netip.Addr {
	a := block.Addr().As4()
	for i := block.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}
