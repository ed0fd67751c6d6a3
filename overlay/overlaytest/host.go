package overlaytest

import (
	"context"
	"net/netip"

	"github.com/vxbgp/vxbgp/overlay"
)

// What an agent asks of netlinkdp.Dataplane besides Observe and Apply, so
// that an in-process agent test can run over the fake: the host's
// underlay, the link watch, Close.

// DefaultUnderlay is the fake host's underlay until SetUnderlay: Underlay
// answers it for any address asked (with that address), DefaultAddr with
// its Addr, 192.0.2.1 (TEST-NET-1); the device is eth0 with MTU 1500.
func DefaultUnderlay() overlay.Underlay {
	return overlay.Underlay{Addr: netip.MustParseAddr("192.0.2.1"), Dev: "eth0", MTU: 1500}
}

// SetUnderlay makes u the fake host's only underlay: DefaultAddr returns
// u.Addr (an error wrapping overlay.ErrNoDefaultRoute if it is not IPv4),
// Underlay returns u for u.Addr and u.Addr6 and an error wrapping
// overlay.ErrAddrNotAssigned for any other address.
func (d *Dataplane) SetUnderlay(u overlay.Underlay) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.underlay = &u
}

// DefaultAddr is netlinkdp.Dataplane.DefaultAddr on the fake host.
func (d *Dataplane) DefaultAddr() (netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.underlay == nil {
		return DefaultUnderlay().Addr, nil
	}
	if !d.underlay.Addr.Is4() {
		return netip.Addr{}, overlay.NoDefaultRouteError()
	}
	return d.underlay.Addr, nil
}

// Underlay is netlinkdp.Dataplane.Underlay on the fake host.
func (d *Dataplane) Underlay(addr netip.Addr) (overlay.Underlay, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.underlay == nil {
		u := DefaultUnderlay()
		u.Addr = addr
		return u, nil
	}
	if !addr.IsValid() || (addr != d.underlay.Addr && addr != d.underlay.Addr6) {
		return overlay.Underlay{}, overlay.AddrNotAssignedError(addr)
	}
	u := *d.underlay
	u.Addr = addr
	return u, nil
}

// Watch is netlinkdp.Dataplane.Watch on a kernel nobody else touches: it
// kicks once, as netlinkdp's does when it has subscribed, and returns nil
// when ctx ends. (Mutate does not kick: most of what it can change,
// netlinkdp's Watch would not see either.)
func (d *Dataplane) Watch(ctx context.Context, kick func()) error {
	kick()
	<-ctx.Done()
	return nil
}

// Close is netlinkdp.Dataplane.Close: the fake holds nothing to release.
func (d *Dataplane) Close() error { return nil }
