package netlinkdp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// setFDB installs a remote MAC as zebra does: one RTM_NEWNEIGH with
// NTF_SELF|NTF_MASTER|NTF_EXT_LEARNED and NLM_F_REPLACE, from which the
// kernel makes both the vxlan entry (dst VTEP) and the bridge entry (towards
// the vxlan port). REPLACE moves an existing MAC to a new VTEP in place
// rather than adding a second remote.
//
//	bridge fdb replace MAC dev VXLAN dst VTEP self master extern_learn dynamic
func (d *Dataplane) setFDB(f overlay.FDB) error {
	return d.withDevice(f.VNI, func(ref linkRef) error { return d.replaceFDB(ref, f) })
}

func (d *Dataplane) replaceFDB(ref linkRef, f overlay.FDB) error {
	if f.MAC.IsZero() || !f.VTEP.IsValid() {
		return fmt.Errorf("add fdb %s dst %s vni %d: not a unicast MAC behind a VTEP", f.MAC, f.VTEP, f.VNI)
	}
	if ref.vxlan == 0 {
		return fmt.Errorf("add fdb %s dst %s: vxlan device of vni %d: %w", f.MAC, f.VTEP, f.VNI, ErrNoDevice)
	}
	if ref.bridge == 0 {
		// Without the bridge, NTF_MASTER is silently skipped and only half
		// of the entry would exist.
		return fmt.Errorf("add fdb %s dst %s dev %s: bridge of vni %d: %w", f.MAC, f.VTEP, ref.vxlanName, f.VNI, ErrNoDevice)
	}
	n := &netlink.Neigh{
		Family:       unix.AF_BRIDGE,
		LinkIndex:    ref.vxlan,
		State:        netlink.NUD_REACHABLE,
		Flags:        netlink.NTF_SELF | netlink.NTF_MASTER | netlink.NTF_EXT_LEARNED,
		IP:           f.VTEP.AsSlice(),
		HardwareAddr: f.MAC.HardwareAddr(),
		MasterIndex:  ref.bridge,
	}
	if err := d.h.NeighSet(n); err != nil {
		return fmt.Errorf("add fdb %s dst %s dev %s: %w", f.MAC, f.VTEP, ref.vxlanName, err)
	}
	return nil
}

// delFDB removes both entries of a remote MAC. The vxlan entry is deleted
// with dst 0.0.0.0, which removes the MAC whatever VTEP it points at, so a
// cache that is behind the kernel cannot leave it behind. A missing entry or
// device is already gone.
//
//	bridge fdb del MAC dev VXLAN self; bridge fdb del MAC dev VXLAN master
func (d *Dataplane) delFDB(f overlay.FDB) error {
	err := d.withDevice(f.VNI, func(ref linkRef) error {
		if ref.vxlan == 0 {
			return nil // the entries went with the vxlan device
		}
		wildcard := netip.IPv4Unspecified()
		if f.VTEP.Is6() {
			wildcard = netip.IPv6Unspecified()
		}
		self := &netlink.Neigh{
			Family:       unix.AF_BRIDGE,
			LinkIndex:    ref.vxlan,
			Flags:        netlink.NTF_SELF,
			IP:           wildcard.AsSlice(),
			HardwareAddr: f.MAC.HardwareAddr(),
		}
		// The kernel handles NTF_MASTER before NTF_SELF and stops at the
		// first error, so one message with both would leave the vxlan entry
		// when the bridge entry is already gone: send two.
		master := *self
		master.Flags = netlink.NTF_MASTER
		for _, n := range []*netlink.Neigh{self, &master} {
			if err := d.h.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("del fdb %s dev %s %s: %w", f.MAC, ref.vxlanName, flagWord(n.Flags), err)
			}
		}
		return nil
	})
	if errors.Is(err, ErrNoDevice) {
		return nil
	}
	return err
}

func flagWord(flags int) string {
	if flags&netlink.NTF_MASTER != 0 {
		return "master"
	}
	return "self"
}

// setFlood adds a remote VTEP to the VNI's head-end replication list: an
// all-zero MAC entry, one remote per VTEP, appended.
//
//	bridge fdb append 00:00:00:00:00:00 dev VXLAN dst VTEP self permanent
func (d *Dataplane) setFlood(f overlay.Flood) error {
	return d.withDevice(f.VNI, func(ref linkRef) error { return d.appendFlood(ref, f) })
}

var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

func (d *Dataplane) appendFlood(ref linkRef, f overlay.Flood) error {
	if !f.VTEP.IsValid() {
		return fmt.Errorf("append fdb 00:00:00:00:00:00 vni %d: invalid VTEP", f.VNI)
	}
	if ref.vxlan == 0 {
		return fmt.Errorf("append fdb 00:00:00:00:00:00 dst %s: vxlan device of vni %d: %w", f.VTEP, f.VNI, ErrNoDevice)
	}
	err := d.h.NeighAppend(&netlink.Neigh{
		Family:       unix.AF_BRIDGE,
		LinkIndex:    ref.vxlan,
		State:        netlink.NUD_NOARP | netlink.NUD_PERMANENT,
		Flags:        netlink.NTF_SELF,
		IP:           f.VTEP.AsSlice(),
		HardwareAddr: zeroMAC,
	})
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("append fdb 00:00:00:00:00:00 dst %s dev %s: %w", f.VTEP, ref.vxlanName, err)
	}
	return nil
}

// delFlood removes one remote VTEP from the replication list; the others
// stay.
//
//	bridge fdb del 00:00:00:00:00:00 dev VXLAN dst VTEP self
func (d *Dataplane) delFlood(f overlay.Flood) error {
	err := d.withDevice(f.VNI, func(ref linkRef) error {
		if ref.vxlan == 0 {
			return nil // the entry went with the vxlan device
		}
		err := d.h.NeighDel(&netlink.Neigh{
			Family:       unix.AF_BRIDGE,
			LinkIndex:    ref.vxlan,
			Flags:        netlink.NTF_SELF,
			IP:           f.VTEP.AsSlice(),
			HardwareAddr: zeroMAC,
		})
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("del fdb 00:00:00:00:00:00 dst %s dev %s: %w", f.VTEP, ref.vxlanName, err)
		}
		return nil
	})
	if errors.Is(err, ErrNoDevice) {
		return nil
	}
	return err
}
