package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// enableIPv6 makes sure IPv6 is on for ifName in the pod's netns, for a pod
// with an IPv6 address (runtimes and distributions may create namespaces
// with disable_ipv6=1, which makes the kernel refuse IPv6 addresses):
//
//	ip netns exec <pod> sysctl -w net.ipv6.conf.<ifName>.disable_ipv6=0
//
// /proc/sys/net is the netns of the thread that opens it, so the write
// happens on a locked OS thread moved into the pod's netns and back.
func enableIPv6(podNS netns.NsHandle, ifName string) error {
	path := filepath.Join("/proc/sys/net/ipv6/conf", ifName, "disable_ipv6")
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked on failure to return to the host's
		// netns: the runtime then discards it instead of reusing it.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("enable IPv6 on %s: current netns: %w", ifName, err)
			return
		}
		defer orig.Close()
		if err := netns.Set(podNS); err != nil {
			errc <- fmt.Errorf("enable IPv6 on %s: enter the pod's netns: %w", ifName, err)
			return
		}
		werr := writeSysctl(path, "0")
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(werr, fmt.Errorf("enable IPv6 on %s: return to the host's netns: %w", ifName, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- werr
	}()
	return <-errc
}

// writeSysctl writes v to a /proc/sys file unless it holds v already.
func writeSysctl(path, v string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == v+"\n" {
		return nil
	}
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("enable IPv6 in the pod: %w (is IPv6 disabled on the host?)", err)
	}
	return nil
}
