package ipam

import (
	"encoding/json"
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

// Allocate returns the address of owner's pod interface in network,
// allocating a free one from block if it has none. It is idempotent: a
// repeated call returns the same address. It never hands out
// the block's network address, its IPv4 broadcast address, or reserved
// (the gateway). When the block is full the error wraps ErrExhausted.
func (s *Store) Allocate(network string, block netip.Prefix, reserved []netip.Addr, owner Owner) (netip.Addr, error) {
	containerID, ifName := owner.ContainerID, owner.IfName
	if !ValidNetworkName(network) {
		return netip.Addr{}, fmt.Errorf("allocate in network %q: invalid network name", network)
	}
	if !block.IsValid() {
		return netip.Addr{}, fmt.Errorf("allocate in network %s: invalid block %s", network, block)
	}
	if containerID == "" || ifName == "" {
		return netip.Addr{}, fmt.Errorf("allocate in network %s: container ID and interface name are required", network)
	}
	block = block.Masked()
	var ip netip.Addr
	err := s.withLock(unix.LOCK_EX, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		if r, ok := find(all, containerID, ifName); ok {
			if r.Network != network || !block.Contains(r.IP) {
				return fmt.Errorf("allocate in block %s of network %s: container %s interface %s already has %s in network %s",
					block, network, containerID, ifName, r.IP, r.Network)
			}
			ip = r.IP
			return nil
		}
		dir := filepath.Join(s.dir, network)
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return fmt.Errorf("allocate in network %s: %w", network, err)
		}
		used, err := takenIn(dir, block)
		if err != nil {
			return err
		}
		var ok bool
		ip, ok = pick(block, reserved, used, s.lastReserved(dir))
		if !ok {
			return &ExhaustedError{Network: network, Block: block, InUse: len(used)}
		}
		rec := Record{ContainerID: containerID, IfName: ifName, CNINetwork: owner.CNINetwork, Network: network, IP: ip, Created: time.Now().UTC().Truncate(time.Second)}
		if err := s.write(rec); err != nil {
			return err
		}
		// Round robin is a preference, not a correctness matter: a lost
		// last_reserved only makes the next search start at the beginning.
		return writeFileAtomic(dir, lastReservedName, []byte(ip.String()+"\n"), filePerm)
	})
	return ip, err
}

// Allocate6 gives owner's pod interface, which must already hold an
// address in network (Allocate), an IPv6 address from block6 as well: the
// dual-stack half of an attachment. It is idempotent like Allocate, never
// hands out block6's subnet-router anycast address or reserved (the IPv6
// gateway), and keeps its own round-robin position. Release frees both.
func (s *Store) Allocate6(network string, block6 netip.Prefix, reserved []netip.Addr, owner Owner) (netip.Addr, error) {
	containerID, ifName := owner.ContainerID, owner.IfName
	if !block6.IsValid() || !block6.Addr().Is6() || block6.Addr().Is4In6() {
		return netip.Addr{}, fmt.Errorf("allocate IPv6 in network %s: invalid block %s", network, block6)
	}
	block6 = block6.Masked()
	var ip netip.Addr
	err := s.withLock(unix.LOCK_EX, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		r, ok := find(all, containerID, ifName)
		if !ok || r.Network != network {
			return fmt.Errorf("allocate IPv6 in network %s: container %s interface %s has no address in it: %w", network, containerID, ifName, ErrNotFound)
		}
		if r.IP6.IsValid() {
			if !block6.Contains(r.IP6) {
				return fmt.Errorf("allocate IPv6 in block %s of network %s: container %s interface %s already has %s",
					block6, network, containerID, ifName, r.IP6)
			}
			ip = r.IP6
			return nil
		}
		dir := filepath.Join(s.dir, network)
		used, err := takenIn(dir, block6)
		if err != nil {
			return err
		}
		var free bool
		ip, free = pick(block6, reserved, used, readLast(dir, lastReserved6Name))
		if !free {
			return &ExhaustedError{Network: network, Block: block6, InUse: len(used)}
		}
		r.IP6 = ip
		if err := s.write(r); err != nil {
			return err
		}
		return writeFileAtomic(dir, lastReserved6Name, []byte(ip.String()+"\n"), filePerm)
	})
	return ip, err
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

// Update stores r's MAC, HostIf, Netns and Chained in the existing allocation of
// (r.ContainerID, r.IfName), which must hold r.IP in r.Network.
func (s *Store) Update(r Record) error {
	return s.withLock(unix.LOCK_EX, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		cur, ok := find(all, r.ContainerID, r.IfName)
		if !ok {
			return fmt.Errorf("update container %s interface %s: %w", r.ContainerID, r.IfName, ErrNotFound)
		}
		if cur.IP != r.IP || cur.Network != r.Network {
			return fmt.Errorf("update container %s interface %s: holds %s in network %s, not %s in network %s",
				r.ContainerID, r.IfName, cur.IP, cur.Network, r.IP, r.Network)
		}
		cur.MAC, cur.HostIf, cur.Netns, cur.Chained = r.MAC, r.HostIf, r.Netns, r.Chained
		return s.write(cur)
	})
}

// Release frees every address of containerID's interface ifName. Releasing
// what is not allocated is not an error, so DEL can be repeated.
func (s *Store) Release(containerID, ifName string) error {
	return s.withLock(unix.LOCK_EX, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.ContainerID == containerID && r.IfName == ifName {
				// The IPv6 holder first: should the second removal fail,
				// the record proper still names it for the next Release.
				if r.IP6.IsValid() {
					if err := removeFile(filepath.Join(s.dir, r.Network), r.IP6.String()); err != nil {
						return fmt.Errorf("release %s of container %s interface %s: %w", r.IP6, containerID, ifName, err)
					}
				}
				if err := removeFile(filepath.Join(s.dir, r.Network), r.IP.String()); err != nil {
					return fmt.Errorf("release %s of container %s interface %s: %w", r.IP, containerID, ifName, err)
				}
			}
		}
		return nil
	})
}

// write stores r atomically; the caller holds the exclusive lock. A
// dual-stack record is written to its IPv6 file first (which only holds
// that address: readers go by the file named by IP), so that a crash in
// between never leaves a record naming an IPv6 address without its file.
func (s *Store) write(r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode record %s: %w", r.IP, err)
	}
	b = append(b, '\n')
	dir := filepath.Join(s.dir, r.Network)
	if r.IP6.IsValid() {
		if err := writeFileAtomic(dir, r.IP6.String(), b, filePerm); err != nil {
			return err
		}
	}
	return writeFileAtomic(dir, r.IP.String(), b, filePerm)
}

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

// lastReserved reads the network's round-robin position; anything
// unreadable means "start at the beginning".
func (s *Store) lastReserved(dir string) netip.Addr {
	return readLast(dir, lastReservedName)
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

// Claim records r, an address another plugin gave the pod (chained mode),
// as r.Network's allocation of (r.ContainerID, r.IfName). Holding the
// file keeps the address from ever being allocated here too. It fails when
// the address is already held by another pod interface; claiming it again
// for the same one replaces the record.
func (s *Store) Claim(r Record) error {
	if !ValidNetworkName(r.Network) {
		return fmt.Errorf("claim %s in network %q: invalid network name", r.IP, r.Network)
	}
	if !r.IP.IsValid() || r.IP.Zone() != "" {
		return fmt.Errorf("claim in network %s: invalid address %s", r.Network, r.IP)
	}
	if r.ContainerID == "" || r.IfName == "" {
		return fmt.Errorf("claim %s in network %s: container ID and interface name are required", r.IP, r.Network)
	}
	return s.withLock(unix.LOCK_EX, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.Network == r.Network && o.IP == r.IP && (o.ContainerID != r.ContainerID || o.IfName != r.IfName) {
				return fmt.Errorf("claim %s in network %s for container %s interface %s: held by container %s interface %s",
					r.IP, r.Network, r.ContainerID, r.IfName, o.ContainerID, o.IfName)
			}
		}
		dir := filepath.Join(s.dir, r.Network)
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return fmt.Errorf("claim %s in network %s: %w", r.IP, r.Network, err)
		}
		// A file that does not decode still holds its address (see
		// readNetwork): only its owner may replace it, and we cannot tell.
		if _, err := os.Stat(filepath.Join(dir, r.IP.String())); err == nil && !slices.ContainsFunc(all, func(o Record) bool {
			return o.Network == r.Network && o.IP == r.IP
		}) {
			return fmt.Errorf("claim %s in network %s: held by an unreadable record", r.IP, r.Network)
		}
		if r.Created.IsZero() {
			r.Created = time.Now().UTC().Truncate(time.Second)
		}
		return s.write(r)
	})
}
