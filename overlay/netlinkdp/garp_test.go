package netlinkdp_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/vxbgp/vxbgp/internal/nstest"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/netlinkdp"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

const (
	remoteIP  = "10.100.2.2"        // a pod on another host
	remoteMAC = "02:00:00:00:02:01" // its real MAC
	otherIP   = "10.100.3.3"
	otherMAC  = "02:00:00:00:03:01"
	gwMAC     = "02:76:78:62:67:01" // overlay.DefaultGatewayMAC
)

// podCaches makes the pod hold a neighbour entry for ip, as after talking
// to it across the tunnel. STALE is what REACHABLE decays to; a gratuitous
// ARP overrides either.
func podCaches(t *testing.T, pod, ip, mac string) {
	t.Helper()
	nstest.IP(t, pod, "neigh", "replace", ip, "lladdr", mac, "dev", "eth0", "nud", "stale")
}

// podMAC returns the MAC the pod's neighbour entry for ip holds ("" if none).
func podMAC(t *testing.T, pod, ip string) string {
	t.Helper()
	f := strings.Fields(nstest.IP(t, pod, "neigh", "show", ip, "dev", "eth0"))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

func neighOf(ip, mac string) overlay.Neigh {
	return overlay.Neigh{VNI: 100, IP: netip.MustParseAddr(ip), MAC: overlay.MustParseMAC(mac)}
}

func apply(t *testing.T, dp overlay.Dataplane, op overlay.Op) {
	t.Helper()
	if err := dp.Apply(context.Background(), op); err != nil {
		t.Fatalf("apply %s: %v", op, err)
	}
}

// TestGratuitousARPOnNeighDelete checks that deleting a remote IP's
// neighbour on a bridge with proxy ARP points the pods' cached entry for
// that IP at the gateway MAC, and that without proxy ARP it does not.
func TestGratuitousARPOnNeighDelete(t *testing.T) {
	dp, _, ns := newDP(t)
	dev := overlaytest.ContractRoutedDevice(100)
	dev.ProxyARP = false
	pod := podWithTwoNeighs(t, dp, ns, dev)

	// Without proxy ARP the host would not answer for the IP: no news.
	apply(t, dp, overlay.Op{Kind: overlay.OpDel, Neigh: new(neighOf(otherIP, otherMAC))})
	dev.ProxyARP = true
	apply(t, dp, overlay.Op{Kind: overlay.OpSet, Device: &dev})
	apply(t, dp, overlay.Op{Kind: overlay.OpDel, Neigh: new(neighOf(remoteIP, remoteMAC))})
	waitFor(t, "the pod to use the gateway for "+remoteIP, func() bool { return podMAC(t, pod, remoteIP) == gwMAC },
		func() string { return nstest.IP(t, pod, "neigh", "show") })
	// Frames on one port arrive in order, so a frame for otherIP, sent
	// first, would have been seen by now.
	if got := podMAC(t, pod, otherIP); got != otherMAC {
		t.Errorf("without proxy arp the pod's entry for %s changed to %s", otherIP, got)
	}
	if out := nstest.IP(t, ns, "neigh", "show", "dev", "vxbr100"); strings.Contains(out, remoteIP) {
		t.Errorf("the host's neighbour is still there:\n%s", out)
	}
}

// TestGratuitousARPOnBatchedNeighDelete checks that the neighbours a
// batch deletes on a bridge with proxy ARP are all announced (once per
// bridge, with every address).
func TestGratuitousARPOnBatchedNeighDelete(t *testing.T) {
	dp, _, ns := newDP(t)
	dev := overlaytest.ContractRoutedDevice(100)
	pod := podWithTwoNeighs(t, dp, ns, dev)

	errs := dp.ApplyBatch(context.Background(), []overlay.Op{
		{Kind: overlay.OpDel, Neigh: new(neighOf(remoteIP, remoteMAC))},
		{Kind: overlay.OpDel, Neigh: new(neighOf(otherIP, otherMAC))},
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ip := range []string{remoteIP, otherIP} {
		waitFor(t, "the pod to use the gateway for "+ip, func() bool { return podMAC(t, pod, ip) == gwMAC },
			func() string { return nstest.IP(t, pod, "neigh", "show") })
	}
}

// TestGratuitousARPOnSwitch checks that switching a network with proxy ARP
// from overlay to routed mode points the pods at the gateway for every
// remote IP at once, though the neighbours stay wanted.
func TestGratuitousARPOnSwitch(t *testing.T) {
	dp, _, ns := newDP(t)
	s := kernelState() // 100 in overlay mode, with a neighbour for remoteIP
	applyState(t, dp, s)
	pod := addPod(t, ns, "vxbr100", "vxp1", "10.100.1.2/16")
	podCaches(t, pod, remoteIP, remoteMAC)

	routed := overlaytest.ContractRoutedDevice(100)
	apply(t, dp, overlay.Op{Kind: overlay.OpSet, Device: &routed})
	waitFor(t, "the pod to use the gateway for "+remoteIP, func() bool { return podMAC(t, pod, remoteIP) == gwMAC },
		func() string { return nstest.IP(t, pod, "neigh", "show") })
	wantLines(t, "ip neigh show dev vxbr100", nstest.IP(t, ns, "neigh", "show", "dev", "vxbr100"),
		remoteIP+" lladdr "+remoteMAC+" extern_learn NOARP")
}

// podWithTwoNeighs applies dev with neighbours for remoteIP and otherIP
// and returns a pod on its bridge that has cached both.
func podWithTwoNeighs(t *testing.T, dp *netlinkdp.Dataplane, ns string, dev overlay.Device) string {
	t.Helper()
	s := overlay.NewState()
	s.AddDevice(dev)
	s.AddNeigh(neighOf(remoteIP, remoteMAC))
	s.AddNeigh(neighOf(otherIP, otherMAC))
	applyState(t, dp, s)
	pod := addPod(t, ns, "vxbr100", "vxp1", "10.100.1.2/16")
	podCaches(t, pod, remoteIP, remoteMAC)
	podCaches(t, pod, otherIP, otherMAC)
	return pod
}
