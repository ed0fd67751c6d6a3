package netlinkdp_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// solicit makes the pod send a neighbour solicitation for target: it
// sends a datagram there, which the kernel holds until it knows the MAC.
func solicit(t *testing.T, pod, target string) {
	t.Helper()
	h, err := netns.GetFromName(pod)
	if err != nil {
		t.Fatalf("netns %s: %v", pod, err)
	}
	defer h.Close()
	err = nstest.Do(h, func() error {
		c, err := net.Dial("udp6", net.JoinHostPort(target, "9"))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("who has it"))
		return err
	})
	if err != nil {
		t.Fatalf("send from %s to %s: %v", pod, target, err)
	}
}

// ndSockets returns the lines of the namespace's packet sockets bound to
// IPv6 (ETH_P_IPV6, 86dd): the ND responder's.
func ndSockets(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(nstest.Run(t, "ip", "netns", "exec", ns, "cat", "/proc/net/packet"), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[3] == "86dd" {
			out = append(out, l)
		}
	}
	return out
}

// TestNDProxy shows a routed dual-stack bridge answering a pod's neighbour
// solicitation for a remote pod with the gateway MAC, and not for a pod of
// its own block; and that what makes it work is repaired when it breaks:
// IPv6 forwarding reset, the responder dead. The responder's socket lives
// in the Dataplane's namespace while a bridge needs it.
func TestNDProxy(t *testing.T) {
	dp, _, ns := newDP(t)
	r := runWithWatch(t, dp)
	want := overlay.NewState()
	want.AddDevice(overlaytest.ContractNDProxy(100, 1)) // gateway fd00:100::1/48, block fd00:100:0:1::/64
	r.Set(want.Clone())
	r.MarkSynced()
	waitObserved(t, dp, want)
	if got := sysctl(t, ns, "net.ipv6.conf.all.forwarding"); got != "1" {
		t.Errorf("net.ipv6.conf.all.forwarding = %s, want 1", got)
	}
	if s := ndSockets(t, ns); len(s) != 1 {
		t.Errorf("the namespace has %d ND sockets, want 1: %q", len(s), s)
	}

	pod := addPod(t, ns, "vxbr100", "vxp1", "10.100.1.2/16")
	nstest.IP(t, pod, "-6", "addr", "add", "fd00:100:0:1::2/48", "dev", "eth0", "nodad")
	answered := func(target, mac string) {
		t.Helper()
		solicit(t, pod, target)
		waitFor(t, "the pod to learn "+target+" at "+mac, func() bool { return podMAC(t, pod, target) == mac },
			func() string { return nstest.IP(t, pod, "-6", "neigh", "show") })
	}
	solicit(t, pod, "fd00:100:0:1::3") // a pod of this host's block answers itself
	answered("fd00:100:0:2::3", gwMAC)
	// The solicitations went out in order, so an answer for the first
	// would have come before the second's.
	if got := podMAC(t, pod, "fd00:100:0:1::3"); got != "" {
		t.Errorf("answered for fd00:100:0:1::3 of the host's own block with %s", got)
	}

	// Turned off by hand: Watch hears the kernel's netconf notification
	// and the reconciler turns it on again, with no resync (no Kick here).
	nstest.Run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
	waitObserved(t, dp, want)
	if got := sysctl(t, ns, "net.ipv6.conf.all.forwarding"); got != "1" {
		t.Errorf("net.ipv6.conf.all.forwarding not repaired: %s", got)
	}

	netlinkdp.FailNDResponder(dp) // Watch kicks the reconciler
	waitObserved(t, dp, want)
	answered("fd00:100:0:2::4", gwMAC)

	d := want.Devices[100]
	d.GatewayMAC = overlay.MustParseMAC("02:00:00:00:00:fe")
	want.AddDevice(d)
	r.Set(want.Clone())
	waitObserved(t, dp, want)
	answered("fd00:100:0:2::5", "02:00:00:00:00:fe")

	d.NDProxy = netip.Prefix{}
	want.AddDevice(d)
	r.Set(want.Clone())
	waitObserved(t, dp, want)
	if s := ndSockets(t, ns); len(s) != 0 {
		t.Errorf("proxy nd off, yet the namespace has ND sockets: %q", s)
	}
}
