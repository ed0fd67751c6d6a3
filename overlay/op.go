package overlay

import (
	"context"
	"fmt"
)

// Dataplane is the kernel seen through the agent's eyes.
type Dataplane interface {
	// Observe returns only what the agent owns: its devices, the FDB,
	// flood and neighbour entries on them, the routes tagged
	// RouteProtocol, and its NAT table. The caller owns the State (fresh
	// maps every call).
	Observe(ctx context.Context) (State, error)
	// Apply performs one operation. It is idempotent: setting what exists
	// and deleting what is gone both succeed.
	Apply(ctx context.Context, op Op) error
}

// Batcher is a Dataplane that can apply several ops at once, e.g. many
// kernel messages per system call.
type Batcher interface {
	// ApplyBatch applies ops in order, each as Apply would, and returns
	// one error per op (nil: done).
	ApplyBatch(ctx context.Context, ops []Op) []error
}

// OpKind says whether an Op creates/updates or removes its object.
type OpKind uint8

const (
	OpSet OpKind = iota + 1 // create, or update in place
	OpDel
)

func (k OpKind) String() string {
	switch k {
	case OpSet:
		return "set"
	case OpDel:
		return "del"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one change to the kernel. Exactly one of the object fields is set.
type Op struct {
	Kind   OpKind
	Device *Device
	Neigh  *Neigh
	FDB    *FDB
	Flood  *Flood
	Route  *Route
	// NAT replaces the whole NAT table (set) or removes it (del).
	NAT *NAT
}

// Object names the kind of object an Op touches ("device", "neigh", "fdb",
// "flood", "route", "nat").
func (o Op) Object() string {
	switch {
	case o.Device != nil:
		return "device"
	case o.Neigh != nil:
		return "neigh"
	case o.FDB != nil:
		return "fdb"
	case o.Flood != nil:
		return "flood"
	case o.Route != nil:
		return "route"
	case o.NAT != nil:
		return "nat"
	}
	return "none"
}

// ObjectKinds lists what Op.Object returns for an op with an object.
func ObjectKinds() []string { return []string{"device", "neigh", "fdb", "flood", "route", "nat"} }

func (o Op) String() string {
	switch {
	case o.Device != nil && o.Device.Routed():
		return fmt.Sprintf("%s device %s vni %d%s", o.Kind, o.Device.Bridge, o.Device.VNI, proxyND(*o.Device))
	case o.Device != nil:
		return fmt.Sprintf("%s device %s/%s vni %d%s", o.Kind, o.Device.Bridge, o.Device.VXLAN, o.Device.VNI, proxyND(*o.Device))
	case o.Neigh != nil:
		return fmt.Sprintf("%s neigh vni %d %s lladdr %s", o.Kind, o.Neigh.VNI, o.Neigh.IP, o.Neigh.MAC)
	case o.FDB != nil:
		return fmt.Sprintf("%s fdb vni %d %s dst %s", o.Kind, o.FDB.VNI, o.FDB.MAC, o.FDB.VTEP)
	case o.Flood != nil:
		return fmt.Sprintf("%s flood vni %d dst %s", o.Kind, o.Flood.VNI, o.Flood.VTEP)
	case o.Route != nil:
		return fmt.Sprintf("%s %s", o.Kind, o.Route)
	case o.NAT != nil:
		return fmt.Sprintf("%s nat table (%d rules)", o.Kind, len(o.NAT.Rules))
	}
	return o.Kind.String() + " nothing"
}

// proxyND is what Op.String adds for a device with NDProxy (" proxy_nd
// BLOCK"): unlike the device's other fields it starts or stops a
// responder, which the log should show.
func proxyND(d Device) string {
	if !d.NDProxy.IsValid() {
		return ""
	}
	return " proxy_nd " + d.NDProxy.String()
}
