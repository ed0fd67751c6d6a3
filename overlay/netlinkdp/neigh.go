package netlinkdp

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// setNeigh installs a remote IP's MAC on the bridge as zebra does: NOARP, so
// the kernel never probes or ages it, and extern_learn, so it is marked as
// coming from the control plane. With neigh_suppress on the vxlan port the
// bridge answers ARP/ND for the IP from this entry.
//
//	ip neigh replace IP lladdr MAC dev BRIDGE nud noarp extern_learn
func (d *Dataplane) setNeigh(n overlay.Neigh) error {
	return d.withDevice(n.VNI, func(ref linkRef) error {
		if ref.bridge == 0 {
			return fmt.Errorf("add neigh %s lladdr %s: bridge of vni %d: %w", n.IP, n.MAC, n.VNI, ErrNoDevice)
		}
		err := d.h.NeighSet(&netlink.Neigh{
			Family:       family(n),
			LinkIndex:    ref.bridge,
			State:        netlink.NUD_NOARP,
			Flags:        netlink.NTF_EXT_LEARNED,
			IP:           n.IP.AsSlice(),
			HardwareAddr: n.MAC.HardwareAddr(),
		})
		if err != nil {
			return fmt.Errorf("add neigh %s lladdr %s dev %s: %w", n.IP, n.MAC, ref.bridgeName, err)
		}
		return nil
	})
}

// delNeigh removes a remote IP from the bridge; a missing entry or device is
// already gone. On a bridge with proxy ARP, the pods are then told that the
// IP is at the gateway (announce), whether or not the entry was there.
//
//	ip neigh del IP dev BRIDGE
func (d *Dataplane) delNeigh(n overlay.Neigh) error {
	err := d.withDevice(n.VNI, func(ref linkRef) error {
		if ref.bridge == 0 {
			return nil // the neighbour went with the bridge
		}
		err := d.h.NeighDel(&netlink.Neigh{
			Family:    family(n),
			LinkIndex: ref.bridge,
			IP:        n.IP.AsSlice(),
		})
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("del neigh %s dev %s: %w", n.IP, ref.bridgeName, err)
		}
		if ref.proxyARP {
			d.announce(ref, n.IP)
		}
		return nil
	})
	if errors.Is(err, ErrNoDevice) {
		return nil
	}
	return err
}

func family(n overlay.Neigh) int {
	if n.IP.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}
