package ipam

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Update stores r's MAC, HostIf, Netns and Chained in the existing
// allocation of (r.ContainerID, r.IfName), which must hold exactly r.IPs
// in r.Network.
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
		ips := slices.SortedFunc(slices.Values(r.IPs), netip.Addr.Compare)
		if !slices.Equal(cur.IPs, ips) || cur.Network != r.Network {
			return fmt.Errorf("update container %s interface %s: holds %s in network %s, not %s in network %s",
				r.ContainerID, r.IfName, addrList(cur.IPs), cur.Network, addrList(ips), r.Network)
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
				if err := s.remove(r.Network, r.IPs); err != nil {
					return fmt.Errorf("release container %s interface %s: %w", containerID, ifName, err)
				}
			}
		}
		return nil
	})
}

// remove deletes the files of ips in network, the first last: on a
// dual-stack record that is the record proper, which names the others, so
// should a removal fail, the next Release still finds them.
func (s *Store) remove(network string, ips []netip.Addr) error {
	for _, ip := range slices.Backward(ips) {
		if err := removeFile(filepath.Join(s.dir, network), ip.String()); err != nil {
			return fmt.Errorf("release %s: %w", ip, err)
		}
	}
	return nil
}

// write stores r atomically, one file per address; the caller holds the
// exclusive lock. A record that fits one file (fitsOneFile: one address,
// or a dual-stack IPv4 and IPv6 pair) is written to its IPv6 file first,
// which only holds the address (readers go by the file named by "ip"), so
// that a crash in between never leaves a record naming an IPv6 address
// without its file. Any other set of addresses (a chained interface's) is
// written as one record per address, which readAll merges again.
func (s *Store) write(r Record) error {
	dir := filepath.Join(s.dir, r.Network)
	split := !fitsOneFile(r.IPs)
	for _, ip := range slices.Backward(r.IPs) {
		one := r
		if split {
			one.IPs = []netip.Addr{ip}
		}
		// Compact, not indented: readers decode with encoding/json, which
		// takes either (the old code's indented files too), and it is a
		// third cheaper to write. MarshalJSON is called, not json.Marshal:
		// the same bytes (json.Marshal would only compact what is compact
		// already), for 40 % of the CPU.
		b, err := one.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode record %s: %w", ip, err)
		}
		if err := writeFileAtomic(dir, ip.String(), append(b, '\n'), filePerm); err != nil {
			return err
		}
	}
	return nil
}

// Claim records r, the addresses another plugin gave the pod (chained
// mode), as r.Network's allocation of (r.ContainerID, r.IfName). Holding
// their files keeps the addresses from ever being allocated here too. It
// fails when an address is already held by another pod interface, or the
// interface has addresses in another network; claiming again for the same
// interface replaces its addresses.
func (s *Store) Claim(r Record) error {
	if !ValidNetworkName(r.Network) {
		return fmt.Errorf("claim %s in network %q: invalid network name", addrList(r.IPs), r.Network)
	}
	if len(r.IPs) == 0 {
		return fmt.Errorf("claim in network %s: no address", r.Network)
	}
	for _, ip := range r.IPs {
		if !ip.IsValid() || ip.Zone() != "" {
			return fmt.Errorf("claim in network %s: invalid address %s", r.Network, ip)
		}
	}
	if r.ContainerID == "" || r.IfName == "" {
		return fmt.Errorf("claim %s in network %s: container ID and interface name are required", addrList(r.IPs), r.Network)
	}
	r.IPs = slices.SortedFunc(slices.Values(r.IPs), netip.Addr.Compare)
	r.IPs = slices.Compact(r.IPs)
	if r.Created.IsZero() {
		r.Created = time.Now().UTC().Truncate(time.Second)
	}
	return s.withLock(unix.LOCK_EX, func() error {
		all, err := s.readAll()
		if err != nil {
			return err
		}
		cur, held := find(all, r.ContainerID, r.IfName)
		if held && cur.Network != r.Network {
			return fmt.Errorf("claim %s in network %s for container %s interface %s: it has %s in network %s",
				addrList(r.IPs), r.Network, r.ContainerID, r.IfName, addrList(cur.IPs), cur.Network)
		}
		dir := filepath.Join(s.dir, r.Network)
		if err := os.MkdirAll(dir, dirPerm); err != nil {
			return fmt.Errorf("claim %s in network %s: %w", addrList(r.IPs), r.Network, err)
		}
		for _, ip := range r.IPs {
			if err := claimable(dir, all, r, ip); err != nil {
				return err
			}
		}
		if err := s.write(r); err != nil {
			return err
		}
		// After the write: a crash in between leaves an address too many
		// held, never one too few.
		var gone []netip.Addr
		for _, ip := range cur.IPs {
			if !slices.Contains(r.IPs, ip) {
				gone = append(gone, ip)
			}
		}
		return s.remove(r.Network, gone)
	})
}

// claimable checks that ip in dir is free, or r's interface's already.
func claimable(dir string, all []Record, r Record, ip netip.Addr) error {
	for _, o := range all {
		if o.Network == r.Network && slices.Contains(o.IPs, ip) {
			if o.ContainerID != r.ContainerID || o.IfName != r.IfName {
				return fmt.Errorf("claim %s in network %s for container %s interface %s: held by container %s interface %s",
					ip, r.Network, r.ContainerID, r.IfName, o.ContainerID, o.IfName)
			}
			return nil
		}
	}
	// A file that does not decode still holds its address (see
	// readNetwork): only its owner may replace it, and we cannot tell.
	if _, err := os.Stat(filepath.Join(dir, ip.String())); err == nil {
		return fmt.Errorf("claim %s in network %s: held by an unreadable record", ip, r.Network)
	}
	return nil
}
