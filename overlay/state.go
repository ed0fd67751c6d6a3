package overlay

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// MAC is an Ethernet address. The zero MAC is the flood-list address.
type MAC [6]byte

// ParseMAC parses "02:00:00:00:00:01".
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return MAC{}, err
	}
	if len(hw) != 6 {
		return MAC{}, fmt.Errorf("mac %q: not 48 bits", s)
	}
	return MAC(hw), nil
}

// MustParseMAC is ParseMAC for constants and tests.
func MustParseMAC(s string) MAC {
	m, err := ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// HardwareAddr returns a fresh net.HardwareAddr copy.
func (m MAC) HardwareAddr() net.HardwareAddr { return net.HardwareAddr(slices.Clone(m[:])) }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// Device is one network's bridge and, in overlay mode, its VXLAN device.
//
// VXLAN "" is a network without VXLAN device (routed mode): only the bridge
// with the gateway. Its bridge must then be named BridgeName(VNI), which is
// how it is found again, and VTEP, Underlay and Port are zero (AddDevice
// clears them). Setting such a Device where the VXLAN device exists deletes
// the VXLAN device and its FDB and flood entries; the bridge, its
// neighbours, its gateway and the pods' ports stay.
type Device struct {
	VNI     uint32
	Network string // the network's name from the config; stored as the links' alias
	Bridge  string // bridge name, e.g. vxbr100
	VXLAN   string // vxlan device name, e.g. vxlan100; "" for none
	// VTEP is the local tunnel source address; Underlay the device that holds it.
	VTEP     netip.Addr
	Underlay string
	Port     uint16 // VXLAN UDP destination port (4789)
	MTU      int    // of the vxlan device and the bridge: underlay MTU - Overhead(VTEP)
	// GatewayMAC and Gateway (address/prefix length of the subnet) sit on the
	// bridge, identical on every host: the anycast gateway.
	GatewayMAC MAC
	Gateway    netip.Prefix
	// Gateway6 is the IPv6 anycast gateway of a dual-stack network, beside
	// the IPv4 Gateway (an IPv6-only network has its gateway in Gateway;
	// AddDevice moves a lone Gateway6 there). Every host holds it, so it is
	// added without duplicate address detection.
	Gateway6 netip.Prefix
	// ProxyARP makes the bridge answer ARP for addresses the host routes
	// elsewhere (remote pods in routed mode) with its own MAC, at once
	// (net.ipv4.conf.BRIDGE.proxy_arp=1, net.ipv4.neigh.BRIDGE.proxy_delay=0),
	// and makes the host forward (net.ipv4.ip_forward=1,
	// net.ipv4.conf.BRIDGE.forwarding=1; never turned off again).
	ProxyARP bool
	// NDProxy is, on a bridge without VXLAN device (routed mode) that holds
	// an IPv6 gateway (Gateway6, or Gateway of an IPv6-only network), this
	// host's own IPv6 block of the network. The data plane then answers the
	// IPv6 neighbour solicitations pods send on the bridge for addresses
	// inside the gateway's subnet but outside NDProxy, other than the
	// gateway itself, with the bridge's MAC (proxy ND, the IPv6 counterpart
	// of ProxyARP), and turns IPv6 forwarding on
	// (net.ipv6.conf.all.forwarding=1, never turned off again, like
	// ip_forward). Linux's own proxy_ndp answers only addresses listed one
	// by one, hence a responder of our own. A device that keeps its VXLAN
	// device during a switch to routed mode (see Reconciler) keeps NDProxy
	// too: both paths work until the VXLAN device goes. A Dataplane
	// refuses an NDProxy outside the IPv6 gateway's subnet (or without
	// one). Zero: off.
	NDProxy netip.Prefix
}

// Routed reports whether d has no VXLAN device.
func (d Device) Routed() bool { return d.VXLAN == "" }

// IPv6Gateway returns the bridge's IPv6 gateway: Gateway6, or Gateway in
// an IPv6-only network; the zero Prefix if it has none.
func (d Device) IPv6Gateway() netip.Prefix {
	if d.Gateway6.IsValid() {
		return d.Gateway6
	}
	if d.Gateway.Addr().Is6() {
		return d.Gateway
	}
	return netip.Prefix{}
}

// FDBKey identifies a remote unicast MAC.
type FDBKey struct {
	VNI uint32
	MAC MAC
}

// FDB is a remote unicast MAC behind a VTEP (EVPN type-2).
type FDB struct {
	VNI  uint32
	MAC  MAC
	VTEP netip.Addr
}

// Key returns the FDB entry's map key.
func (f FDB) Key() FDBKey { return FDBKey{f.VNI, f.MAC} }

// Flood is one remote VTEP in a VNI's head-end replication list (EVPN type-3).
type Flood struct {
	VNI  uint32
	VTEP netip.Addr
}

// NeighKey identifies a remote IP on a network's bridge.
type NeighKey struct {
	VNI uint32
	IP  netip.Addr
}

// Neigh is a remote IP's MAC, installed on the bridge (EVPN type-2 with IP).
type Neigh struct {
	VNI uint32
	IP  netip.Addr
	MAC MAC
}

// Key returns the neighbour's map key.
func (n Neigh) Key() NeighKey { return NeighKey{n.VNI, n.IP} }

// State is the kernel state the agent owns. The zero value is the empty state.
type State struct {
	Devices map[uint32]Device
	FDB     map[FDBKey]FDB
	Flood   map[Flood]struct{}
	Neigh   map[NeighKey]Neigh
	Routes  map[netip.Prefix]Route // tagged RouteProtocol, main table
	NAT     NAT                    // pod egress masquerade; zero: no NAT table
}

// NewState returns an empty State with its maps allocated.
func NewState() State {
	return State{
		Devices: map[uint32]Device{},
		FDB:     map[FDBKey]FDB{},
		Flood:   map[Flood]struct{}{},
		Neigh:   map[NeighKey]Neigh{},
		Routes:  map[netip.Prefix]Route{},
	}
}

// AddDevice, AddFDB, AddFlood and AddNeigh fill a State built with NewState.
// AddDevice stores the Device as a Dataplane observes it: without tunnel
// fields when it has no VXLAN device, with a lone gateway in Gateway, with
// NDProxy masked.
func (s State) AddDevice(d Device) {
	if d.Routed() {
		d.VTEP, d.Underlay, d.Port = netip.Addr{}, "", 0
	}
	if !d.Gateway.IsValid() {
		d.Gateway, d.Gateway6 = d.Gateway6, netip.Prefix{}
	}
	d.NDProxy = d.NDProxy.Masked()
	s.Devices[d.VNI] = d
}
func (s State) AddFDB(f FDB)     { s.FDB[f.Key()] = f }
func (s State) AddFlood(f Flood) { s.Flood[f] = struct{}{} }
func (s State) AddNeigh(n Neigh) { s.Neigh[n.Key()] = n }

// Clone returns a deep copy.
func (s State) Clone() State {
	c := State{
		Devices: maps.Clone(s.Devices),
		FDB:     maps.Clone(s.FDB),
		Flood:   maps.Clone(s.Flood),
		Neigh:   maps.Clone(s.Neigh),
		Routes:  make(map[netip.Prefix]Route, len(s.Routes)),
		NAT:     s.NAT.Clone(),
	}
	for k, r := range s.Routes {
		c.Routes[k] = r.Clone()
	}
	if c.Devices == nil {
		c.Devices = map[uint32]Device{}
	}
	if c.FDB == nil {
		c.FDB = map[FDBKey]FDB{}
	}
	if c.Flood == nil {
		c.Flood = map[Flood]struct{}{}
	}
	if c.Neigh == nil {
		c.Neigh = map[NeighKey]Neigh{}
	}
	return c
}

// Equal reports whether two states hold the same entries (nil and empty maps are equal).
func (s State) Equal(o State) bool {
	return maps.Equal(s.Devices, o.Devices) && maps.Equal(s.FDB, o.FDB) &&
		maps.Equal(s.Flood, o.Flood) && maps.Equal(s.Neigh, o.Neigh) &&
		maps.EqualFunc(s.Routes, o.Routes, Route.Equal) && s.NAT.Equal(o.NAT)
}

// Len is the number of entries of every kind.
func (s State) Len() int {
	return len(s.Devices) + len(s.FDB) + len(s.Flood) + len(s.Neigh) + len(s.Routes) + len(s.NAT.Rules)
}

// device returns the device names for a VNI, falling back to the default names
// so that String works on states whose device is being deleted.
func (s State) device(vni uint32) Device {
	if d, ok := s.Devices[vni]; ok {
		return d
	}
	return Device{VNI: vni, Bridge: BridgeName(vni), VXLAN: VXLANName(vni)}
}

// String renders the state in iproute2 form, one object per line, sorted, so
// tests compare text.
func (s State) String() string {
	var lines []string
	for _, d := range s.Devices {
		lines = append(lines, d.String())
	}
	for _, n := range s.Neigh {
		lines = append(lines, neighString(n, s.device(n.VNI)))
	}
	for _, f := range s.FDB {
		lines = append(lines, fdbString(f, s.device(f.VNI)))
	}
	for f := range s.Flood {
		lines = append(lines, floodString(f, s.device(f.VNI)))
	}
	for _, r := range s.Routes {
		lines = append(lines, r.String())
	}
	for _, m := range s.NAT.Rules {
		lines = append(lines, m.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func (d Device) String() string {
	s := fmt.Sprintf("link %s type bridge address %s gateway %s", d.Bridge, d.GatewayMAC, d.Gateway)
	if d.Gateway6.IsValid() {
		s += " gateway6 " + d.Gateway6.String()
	}
	s += fmt.Sprintf(" mtu %d", d.MTU)
	if d.ProxyARP {
		s += " proxy_arp on"
	}
	if d.NDProxy.IsValid() {
		s += " proxy_nd " + d.NDProxy.String()
	}
	if d.Routed() {
		return s
	}
	return s + fmt.Sprintf("; link %s type vxlan id %d local %s dev %s dstport %d mtu %d master %s",
		d.VXLAN, d.VNI, d.VTEP, d.Underlay, d.Port, d.MTU, d.Bridge)
}

func fdbString(f FDB, d Device) string {
	return fmt.Sprintf("fdb %s dev %s dst %s self master extern_learn", f.MAC, d.VXLAN, f.VTEP)
}

func floodString(f Flood, d Device) string {
	return fmt.Sprintf("fdb 00:00:00:00:00:00 dev %s dst %s self permanent", d.VXLAN, f.VTEP)
}

func neighString(n Neigh, d Device) string {
	return fmt.Sprintf("neigh %s lladdr %s dev %s nud noarp extern_learn", n.IP, n.MAC, d.Bridge)
}

// BridgeName and VXLANName are the device names the agent uses for a VNI.
// Both stay within IFNAMSIZ (15) for every 24-bit VNI.
func BridgeName(vni uint32) string { return fmt.Sprintf("vxbr%d", vni) }
func VXLANName(vni uint32) string  { return fmt.Sprintf("vxlan%d", vni) }

// DefaultGatewayMAC is the anycast gateway MAC every host puts on its bridges
// (locally administered, unicast).
var DefaultGatewayMAC = MAC{0x02, 0x76, 0x78, 0x62, 0x67, 0x01}

// Overhead is what VXLAN adds to a pod's frame over a VTEP address: outer
// IP header (20 bytes for IPv4, 40 for IPv6) + UDP 8 + VXLAN 8 + inner
// Ethernet 14, so 50 or 70. Underestimating it over IPv6 would leave pods
// an MTU whose full-size frames the underlay drops.
func Overhead(vtep netip.Addr) int {
	if vtep.Is6() && !vtep.Is4In6() {
		return 70
	}
	return 50
}

// MarshalText renders m as "02:00:00:00:00:01" (JSON and YAML use it).
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses what MarshalText wrote; an empty text is the zero MAC.
func (m *MAC) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = MAC{}
		return nil
	}
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Apply records op in s, in place, as a Dataplane would carry it out.
// s must have its maps allocated (NewState or Clone); Routes may be nil.
func (s *State) Apply(op Op) {
	switch {
	case op.Device != nil:
		if op.Kind == OpSet {
			s.Devices[op.Device.VNI] = *op.Device
			if op.Device.Routed() {
				s.dropTunnelEntries(op.Device.VNI)
			}
		} else {
			delete(s.Devices, op.Device.VNI)
		}
	case op.Neigh != nil:
		if op.Kind == OpSet {
			s.Neigh[op.Neigh.Key()] = *op.Neigh
		} else {
			delete(s.Neigh, op.Neigh.Key())
		}
	case op.FDB != nil:
		if op.Kind == OpSet {
			s.FDB[op.FDB.Key()] = *op.FDB
		} else {
			delete(s.FDB, op.FDB.Key())
		}
	case op.Flood != nil:
		if op.Kind == OpSet {
			s.Flood[*op.Flood] = struct{}{}
		} else {
			delete(s.Flood, *op.Flood)
		}
	case op.Route != nil:
		if op.Kind == OpSet {
			if s.Routes == nil {
				s.Routes = map[netip.Prefix]Route{}
			}
			s.Routes[op.Route.Dst] = op.Route.Clone()
		} else {
			delete(s.Routes, op.Route.Dst)
		}
	case op.NAT != nil:
		if op.Kind == OpSet {
			s.NAT = op.NAT.Clone()
		} else {
			s.NAT = NAT{}
		}
	}
}

// dropTunnelEntries removes a network's FDB and flood entries: they live on
// its VXLAN device, and go with it.
func (s *State) dropTunnelEntries(vni uint32) {
	for k := range s.FDB {
		if k.VNI == vni {
			delete(s.FDB, k)
		}
	}
	for f := range s.Flood {
		if f.VNI == vni {
			delete(s.Flood, f)
		}
	}
}
