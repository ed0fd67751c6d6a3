package netlinkdp

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// keeper saves our entries on a network's links before a change that makes
// the kernel drop them silently, and puts them back once the device is
// complete again. One keeper serves one setDevice call.
type keeper struct {
	d      *Dataplane
	neighs []netlink.Neigh // extern_learn neighbours of the bridge
	saved  bool            // neighs holds the bridge's neighbours
	fdb    []netlink.Neigh // unicast and flood entries of the old vxlan device
}

// saveNeighs records our neighbours on the bridge (once per keeper: the
// first reading is the one from before any change).
//
//	ip neigh show dev BRIDGE; ip -6 neigh show dev BRIDGE
func (k *keeper) saveNeighs(bridge int) error {
	if k.saved {
		return nil
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		all, err := dump("neighbours", func() ([]netlink.Neigh, error) { return k.d.h.NeighList(bridge, fam) })
		if err != nil {
			return err
		}
		for _, n := range all {
			if n.LinkIndex == bridge && n.Flags&netlink.NTF_EXT_LEARNED != 0 && len(n.HardwareAddr) == 6 {
				k.neighs = append(k.neighs, n)
			}
		}
	}
	k.saved = true
	return nil
}

// saveFDB records the unicast (extern_learn) and flood entries of a vxlan
// device about to be recreated.
//
//	bridge fdb show dev VXLAN self
func (k *keeper) saveFDB(vxlan int) error {
	all, err := dump("fdb", func() ([]netlink.Neigh, error) { return k.d.h.NeighList(vxlan, unix.AF_BRIDGE) })
	if err != nil {
		return err
	}
	for _, e := range all {
		if e.LinkIndex != vxlan || e.Flags&netlink.NTF_SELF == 0 || e.IP == nil || len(e.HardwareAddr) != 6 {
			continue
		}
		if e.Flags&netlink.NTF_EXT_LEARNED != 0 || overlay.MAC(e.HardwareAddr).IsZero() {
			k.fdb = append(k.fdb, e)
		}
	}
	return nil
}

// restore puts back what was saved, onto the network's current links.
func (k *keeper) restore(dev overlay.Device, ref linkRef) error {
	var errs []error
	for _, e := range k.fdb {
		vtep, mac := addrFrom(e.IP), overlay.MAC(e.HardwareAddr)
		if mac.IsZero() {
			errs = append(errs, k.d.appendFlood(ref, overlay.Flood{VNI: dev.VNI, VTEP: vtep}))
		} else {
			errs = append(errs, k.d.replaceFDB(ref, overlay.FDB{VNI: dev.VNI, MAC: mac, VTEP: vtep}))
		}
	}
	for _, n := range k.neighs {
		// ip neigh replace IP lladdr MAC dev BRIDGE nud noarp extern_learn
		err := k.d.h.NeighSet(&netlink.Neigh{
			Family: n.Family, LinkIndex: ref.bridge, State: netlink.NUD_NOARP, Flags: netlink.NTF_EXT_LEARNED,
			IP: n.IP, HardwareAddr: n.HardwareAddr,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("add neigh %s lladdr %s dev %s: %w", n.IP, n.HardwareAddr, ref.bridgeName, err))
		}
	}
	if len(k.fdb)+len(k.neighs) > 0 {
		k.d.log.Info("restored entries the kernel dropped while changing the device", "vni", dev.VNI, "dev", dev.Bridge, "fdb", len(k.fdb), "neigh", len(k.neighs))
	}
	return errors.Join(errs...)
}
