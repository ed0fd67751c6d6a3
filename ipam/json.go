package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/internal/stateformat"
	"github.com/vxbgp/vxbgp/overlay"
)

// The on-disk formats. networks.json and the record files are read by
// plugin binaries of other versions during a rolling upgrade (an old
// plugin reads what a new agent wrote, a new plugin reads old records),
// so their JSON keeps the flat layout of the first dual-stack version:
// an IPv4 "subnet"/"block"/"gateway" (or "ip") and an IPv6
// "subnet6"/"block6"/"gateway6" (or "ip6"). In memory they are lists
// (NetworkInfo.Pools, Record.IPs); these types translate at the edge.
// golden_test.go holds files the old code wrote.

// networkJSON is one network in networks.json.
type networkJSON struct {
	Name     string       `json:"name"`
	VNI      uint32       `json:"vni"`
	Bridge   string       `json:"bridge"`
	Subnet   netip.Prefix `json:"subnet"`
	Block    netip.Prefix `json:"block"`
	Gateway  netip.Addr   `json:"gateway"`
	MTU      int          `json:"mtu"`
	Subnet6  netip.Prefix `json:"subnet6,omitzero"`
	Block6   netip.Prefix `json:"block6,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
}

// MarshalJSON writes the first pool as subnet, block and gateway and the
// second as subnet6, block6 and gateway6; there are no keys for a third.
func (n NetworkInfo) MarshalJSON() ([]byte, error) {
	if len(n.Pools) > maxPools {
		return nil, fmt.Errorf("encode network %s: %d pools, the file has room for %d", n.Name, len(n.Pools), maxPools)
	}
	j := networkJSON{Name: n.Name, VNI: n.VNI, Bridge: n.Bridge, MTU: n.MTU}
	if len(n.Pools) > 0 {
		j.Subnet, j.Block, j.Gateway = n.Pools[0].Subnet, n.Pools[0].Block, n.Pools[0].Gateway
	}
	if len(n.Pools) > 1 {
		j.Subnet6, j.Block6, j.Gateway6 = n.Pools[1].Subnet, n.Pools[1].Block, n.Pools[1].Gateway
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the keys MarshalJSON writes. The first pool is
// always there, even when its keys are not (Validate then names them); the
// second only when one of its keys is.
func (n *NetworkInfo) UnmarshalJSON(b []byte) error {
	var j networkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*n = NetworkInfo{Name: j.Name, VNI: j.VNI, Bridge: j.Bridge, MTU: j.MTU,
		Pools: []Pool{{Subnet: j.Subnet, Block: j.Block, Gateway: j.Gateway}}}
	if j.Subnet6.IsValid() || j.Block6.IsValid() || j.Gateway6.IsValid() {
		n.Pools = append(n.Pools, Pool{Subnet: j.Subnet6, Block: j.Block6, Gateway: j.Gateway6})
	}
	return nil
}

// RecordVersion is the format version of the record files this release
// writes and the newest it reads (internal/stateformat).
const RecordVersion = 1

// recordJSON is one record file. The file named by "ip" is the record
// proper; on a dual-stack attachment the file named by "ip6" holds a copy.
// Version comes first in the file.
type recordJSON struct {
	Version     int         `json:"version"`
	ContainerID string      `json:"containerID"`
	IfName      string      `json:"ifName"`
	CNINetwork  string      `json:"cniNetwork,omitempty"`
	Network     string      `json:"network"`
	IP          netip.Addr  `json:"ip"`
	IP6         netip.Addr  `json:"ip6,omitzero"`
	MAC         overlay.MAC `json:"mac,omitzero"`
	HostIf      string      `json:"hostIf,omitempty"`
	Netns       string      `json:"netns,omitempty"`
	Chained     bool        `json:"chained,omitempty"`
	Created     time.Time   `json:"created"`
}

// errSplit: the record's addresses do not fit one file.
var errSplit = errors.New("addresses do not fit one record file (one address, or an IPv4 and an IPv6 one)")

// MarshalJSON writes the record as one file holds it: "ip" is IPs[0] and
// "ip6" IPs[1]. That fits one address, or an IPv4 address and an IPv6 one
// (a dual-stack attachment); the store writes any other set, such as a
// chained interface's two IPv4 addresses, as one record per address.
func (r Record) MarshalJSON() ([]byte, error) {
	if !fitsOneFile(r.IPs) {
		return nil, fmt.Errorf("encode record of container %s interface %s with %s: %w", r.ContainerID, r.IfName, addrList(r.IPs), errSplit)
	}
	j := recordJSON{Version: RecordVersion, ContainerID: r.ContainerID, IfName: r.IfName, CNINetwork: r.CNINetwork, Network: r.Network,
		IP: r.IPs[0], MAC: r.MAC, HostIf: r.HostIf, Netns: r.Netns, Chained: r.Chained, Created: r.Created}
	if len(r.IPs) > 1 {
		j.IP6 = r.IPs[1]
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads "ip" and "ip6" into IPs, in that order. A record
// in a newer format is a *stateformat.NewerError without its File (the
// store names it), even when the rest does not decode: that is what a
// newer format may look like.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	err := json.Unmarshal(b, &j)
	if verr := stateformat.Check("", j.Version, RecordVersion); verr != nil {
		return verr
	}
	if err != nil {
		return err
	}
	*r = Record{ContainerID: j.ContainerID, IfName: j.IfName, CNINetwork: j.CNINetwork, Network: j.Network,
		MAC: j.MAC, HostIf: j.HostIf, Netns: j.Netns, Chained: j.Chained, Created: j.Created}
	switch {
	case !j.IP.IsValid(): // not a record: it names no file (readers skip it)
	case j.IP6.IsValid():
		r.IPs = []netip.Addr{j.IP, j.IP6}
	default:
		r.IPs = []netip.Addr{j.IP}
	}
	return nil
}

// fitsOneFile reports whether ips can be one record file's "ip" and
// "ip6": one address, or an IPv4 one and then an IPv6 one.
func fitsOneFile(ips []netip.Addr) bool {
	switch len(ips) {
	case 1:
		return ips[0].IsValid()
	case 2:
		return ips[0].Is4() && ips[1].Is6()
	}
	return false
}

// addrList writes addresses as "a, b".
func addrList(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}
