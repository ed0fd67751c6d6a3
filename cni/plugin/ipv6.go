package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// setPodIPv6 turns IPv6 on or off for ifName in the pod's netns, before the
// link goes up:
//
//	ip netns exec <pod> sysctl -w net.ipv6.conf.<ifName>.disable_ipv6=0|1
//
// On, for a pod with an IPv6 address: runtimes and distributions may create
// namespaces with disable_ipv6=1, which makes the kernel refuse IPv6
// addresses.
//
// Off, for a pod without one, as Docker does for IPv4-only networks. With
// IPv6 on, the interface comes up with a link-local address and sends
// router solicitations, MLD reports and duplicate-address probes, all
// multicast: the bridge floods them to every host of the network over
// VXLAN, where every pod of the network gets them. In the 50-host lab that
// was ~80 % of the underlay's packets while the pods started, enough for
// the kernel to drop packets that mattered. An IPv4-only pod has no use for
// them.
//
// A host booted without IPv6 has no /proc/sys/net/ipv6: nothing to turn
// off then (turning it on fails, naming the likely cause).
//
// /proc/sys/net is the netns of the thread that opens it, so the write
// happens on a locked OS thread moved into the pod's netns and back.
func setPodIPv6(podNS netns.NsHandle, ifName string, on bool) error {
	verb, v := "disable", "1"
	if on {
		verb, v = "enable", "0"
	}
	path := filepath.Join("/proc/sys/net/ipv6/conf", ifName, "disable_ipv6")
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked on failure to return to the host's
		// netns: the runtime then discards it instead of reusing it.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("%s IPv6 on %s: current netns: %w", verb, ifName, err)
			return
		}
		defer orig.Close()
		if err := netns.Set(podNS); err != nil {
			errc <- fmt.Errorf("%s IPv6 on %s: enter the pod's netns: %w", verb, ifName, err)
			return
		}
		werr := writeSysctl(path, v)
		if !on && errors.Is(werr, os.ErrNotExist) {
			werr = nil
		}
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(werr, fmt.Errorf("%s IPv6 on %s: return to the host's netns: %w", verb, ifName, err))
			return
		}
		runtime.UnlockOSThread()
		if werr != nil {
			werr = fmt.Errorf("%s IPv6 in the pod: %w", verb, werr)
			if on {
				werr = fmt.Errorf("%w (is IPv6 disabled on the host?)", werr)
			}
		}
		errc <- werr
	}()
	return <-errc
}

// writeSysctl writes v to a /proc/sys file unless it holds v already.
func writeSysctl(path, v string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == v+"\n" {
		return nil
	}
	return os.WriteFile(path, []byte(v), 0o644)
}
