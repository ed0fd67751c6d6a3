// Package overlaytest is an in-memory overlay.Dataplane for unit tests. It
// enforces the kernel's invariants (an entry needs its device, an FDB or
// flood entry its VXLAN device; deleting a device takes its entries with
// it, removing a VXLAN device its FDB and flood entries; a route needs a
// gateway) and fails the test when the reconciler breaks them, and it can
// inject failures.
package overlaytest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vxbgp/vxbgp/overlay"
)

// ErrInjected is returned by Apply for operations selected by FailOn.
var ErrInjected = errors.New("injected failure")

// Dataplane is the fake. The zero value is not usable; call New.
type Dataplane struct {
	mu     sync.Mutex
	state  overlay.State
	ops    []overlay.Op
	failOn func(overlay.Op) bool
	// Violations lists invariant breaks seen so far.
	violations []string
	underlay   *overlay.Underlay // nil: DefaultUnderlay(), for any address
}

var _ overlay.Dataplane = (*Dataplane)(nil)

// New returns an empty fake kernel.
func New() *Dataplane { return &Dataplane{state: overlay.NewState()} }

// NewWith returns a fake kernel that already holds s (e.g. a previous run's state).
func NewWith(s overlay.State) *Dataplane { return &Dataplane{state: s.Clone()} }

// Observe implements overlay.Dataplane.
func (d *Dataplane) Observe(ctx context.Context) (overlay.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state.Clone(), nil
}

// Apply implements overlay.Dataplane with the kernel's rules: setting an
// entry on a missing device fails (ENODEV), deletes of missing entries
// succeed, deleting a device removes its entries, setting a device without
// VXLAN device removes its FDB and flood entries, a route without a
// gateway of its own family is refused. Routes need no device.
func (d *Dataplane) Apply(ctx context.Context, op overlay.Op) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failOn != nil && d.failOn(op) {
		return fmt.Errorf("%s: %w", op, ErrInjected)
	}
	if op.Kind != overlay.OpSet && op.Kind != overlay.OpDel {
		d.violations = append(d.violations, fmt.Sprintf("bad op kind: %s", op))
		return fmt.Errorf("bad op kind %d", op.Kind)
	}
	d.ops = append(d.ops, op)
	if vni, ok := entryVNI(op); ok && op.Kind == overlay.OpSet {
		dev, ok := d.state.Devices[vni]
		if !ok {
			return fmt.Errorf("%s: no device for vni %d", op, vni)
		}
		if dev.Routed() && op.Neigh == nil {
			return fmt.Errorf("%s: no vxlan device for vni %d", op, vni)
		}
	}
	if op.Device != nil && op.Kind == overlay.OpSet {
		if err := d.checkDevice(*op.Device); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if op.Route != nil && op.Kind == overlay.OpSet {
		if err := d.checkRoute(*op.Route); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if op.NAT != nil && op.Kind == overlay.OpSet {
		if err := d.checkNAT(*op.NAT); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if op.Device != nil && op.Kind == overlay.OpDel {
		vni := op.Device.VNI
		for k, f := range d.state.FDB {
			if f.VNI == vni {
				delete(d.state.FDB, k)
			}
		}
		for f := range d.state.Flood {
			if f.VNI == vni {
				delete(d.state.Flood, f)
			}
		}
		for k, n := range d.state.Neigh {
			if n.VNI == vni {
				delete(d.state.Neigh, k)
			}
		}
	}
	if op.FDB != nil && op.FDB.MAC.IsZero() {
		d.violations = append(d.violations, fmt.Sprintf("zero MAC as unicast FDB entry: %s", op))
	}
	d.state.Apply(op)
	return nil
}

// checkDevice refuses what the kernel Dataplane refuses, and records a
// violation for a device the reconciler could never see as in sync.
func (d *Dataplane) checkDevice(dev overlay.Device) error {
	if dev.Bridge == "" {
		return errors.New("no bridge name")
	}
	if dev.Gateway6.IsValid() && (!dev.Gateway6.Addr().Is6() || !dev.Gateway.Addr().Is4()) {
		d.violations = append(d.violations, fmt.Sprintf("Gateway6 is the IPv6 gateway beside an IPv4 Gateway (use State.AddDevice): %+v", dev))
	}
	if dev.NDProxy.IsValid() {
		if gw := dev.IPv6Gateway(); !gw.IsValid() || !dev.NDProxy.Addr().Is6() || !gw.Masked().Contains(dev.NDProxy.Addr()) {
			return fmt.Errorf("proxy_nd %s needs an IPv6 gateway whose subnet holds it, gateway6 is %s", dev.NDProxy, gw)
		}
		if dev.NDProxy != dev.NDProxy.Masked() {
			d.violations = append(d.violations, fmt.Sprintf("NDProxy not masked (use State.AddDevice): %+v", dev))
		}
	}
	if !dev.Routed() {
		return nil
	}
	if dev.Bridge != overlay.BridgeName(dev.VNI) {
		return fmt.Errorf("bridge of a network without vxlan device must be named %s", overlay.BridgeName(dev.VNI))
	}
	if dev.VTEP.IsValid() || dev.Underlay != "" || dev.Port != 0 {
		d.violations = append(d.violations, fmt.Sprintf("device without vxlan device has tunnel fields (use State.AddDevice): %+v", dev))
	}
	return nil
}

// checkRoute refuses a route the kernel refuses, and records a violation
// for one that is not normalised.
func (d *Dataplane) checkRoute(r overlay.Route) error {
	if !r.Dst.IsValid() || len(r.Via) == 0 {
		return errors.New("route needs a destination and a gateway")
	}
	for _, v := range r.Via {
		if !v.IsValid() || v.Is4() != r.Dst.Addr().Is4() {
			return fmt.Errorf("gateway %s not of the family of %s", v, r.Dst)
		}
	}
	if !r.Normal() {
		d.violations = append(d.violations, fmt.Sprintf("route not normalised (use overlay.NewRoute or State.AddRoute): %s", r))
	}
	return nil
}

// checkNAT refuses a NAT the kernel Dataplane cannot encode, and records a
// violation for one that is not normalised (it would never compare equal
// to what the kernel gives back).
func (d *Dataplane) checkNAT(n overlay.NAT) error {
	for _, m := range n.Rules {
		if !m.Src.IsValid() {
			return fmt.Errorf("nat rule for network %q: invalid source prefix", m.Network)
		}
		for _, p := range m.Except {
			if !p.IsValid() || p.Addr().Is6() != m.Src.Addr().Is6() {
				return fmt.Errorf("nat rule for network %q: exception %s is not of the family of %s", m.Network, p, m.Src)
			}
		}
	}
	if !n.Equal(overlay.NewNAT(n.Rules...)) {
		d.violations = append(d.violations, fmt.Sprintf("nat not normalised (use overlay.NewNAT): %v", n))
	}
	return nil
}

func entryVNI(op overlay.Op) (uint32, bool) {
	switch {
	case op.Neigh != nil:
		return op.Neigh.VNI, true
	case op.FDB != nil:
		return op.FDB.VNI, true
	case op.Flood != nil:
		return op.Flood.VNI, true
	}
	return 0, false
}

// State returns a copy of the fake kernel's state.
func (d *Dataplane) State() overlay.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state.Clone()
}

// Ops returns every operation applied so far and forgets them.
func (d *Dataplane) Ops() []overlay.Op {
	d.mu.Lock()
	defer d.mu.Unlock()
	ops := d.ops
	d.ops = nil
	return ops
}

// FailOn makes Apply fail for every op for which f returns true (nil: never).
func (d *Dataplane) FailOn(f func(overlay.Op) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failOn = f
}

// Mutate changes the fake kernel behind the reconciler's back, as an
// operator with iproute2 would.
func (d *Dataplane) Mutate(f func(*overlay.State)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.state)
}

// Violations returns the invariant breaks seen so far.
func (d *Dataplane) Violations() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.violations...)
}
