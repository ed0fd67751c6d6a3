package overlaytest_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// host is what an agent needs of its data plane beyond overlay.Dataplane.
// The kernel's and the fake provide the same, so an agent test can run
// over the fake.
type host interface {
	overlay.Dataplane
	Watch(ctx context.Context, kick func()) error
	DefaultAddr() (netip.Addr, error)
	Underlay(addr netip.Addr) (overlay.Underlay, error)
	Close() error
}

var (
	_ host = (*netlinkdp.Dataplane)(nil)
	_ host = (*overlaytest.Dataplane)(nil)
)

func TestFakeUnderlay(t *testing.T) {
	ip := netip.MustParseAddr
	dp := overlaytest.New()
	if a, err := dp.DefaultAddr(); err != nil || a != overlaytest.DefaultUnderlay().Addr {
		t.Errorf("DefaultAddr = %s, %v", a, err)
	}
	want := overlay.Underlay{Addr: ip("10.0.0.7"), Dev: "eth0", MTU: 1500}
	if u, err := dp.Underlay(ip("10.0.0.7")); err != nil || u != want {
		t.Errorf("Underlay = %+v, %v; want %+v", u, err, want)
	}

	set := overlay.Underlay{Addr: ip("10.250.0.1"), Addr6: ip("fd00:250::1"), Dev: "ens3", MTU: 9000}
	dp.SetUnderlay(set)
	if a, err := dp.DefaultAddr(); err != nil || a != set.Addr {
		t.Errorf("DefaultAddr = %s, %v; want %s", a, err, set.Addr)
	}
	for _, a := range []netip.Addr{set.Addr, set.Addr6} {
		w := set
		w.Addr = a
		if u, err := dp.Underlay(a); err != nil || u != w {
			t.Errorf("Underlay(%s) = %+v, %v; want %+v", a, u, err, w)
		}
	}
	if _, err := dp.Underlay(ip("10.0.0.7")); !errors.Is(err, overlay.ErrAddrNotAssigned) {
		t.Errorf("Underlay of another address: %v", err)
	}
	dp.SetUnderlay(overlay.Underlay{Addr: ip("fd00:250::1"), Dev: "ens3", MTU: 9000})
	if _, err := dp.DefaultAddr(); !errors.Is(err, overlay.ErrNoDefaultRoute) {
		t.Errorf("DefaultAddr without IPv4 underlay: %v", err)
	}
	if u, _ := dp.Underlay(ip("fd00:250::1")); !errors.Is(u.RequireAddr6(), overlay.ErrNoGlobalIPv6) {
		t.Errorf("RequireAddr6 of %+v: %v", u, u.RequireAddr6())
	}
}

func TestFakeWatch(t *testing.T) {
	dp := overlaytest.New()
	ctx, cancel := context.WithCancel(context.Background())
	kicks := make(chan struct{}, 2)
	done := make(chan error, 1)
	go func() { done <- dp.Watch(ctx, func() { kicks <- struct{}{} }) }()
	select {
	case <-kicks:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not kick once at start")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	if len(kicks) != 0 {
		t.Error("Watch kicked more than once")
	}
	if err := dp.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
