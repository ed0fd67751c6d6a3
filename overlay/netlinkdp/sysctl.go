package netlinkdp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
)

// inNS runs f on an OS thread switched into the Dataplane's namespace, for
// what netlink cannot reach: /proc/sys/net shows the sysctls of the
// namespace of the thread that opens a file there, and a packet socket
// belongs to the namespace of the thread that creates it. f runs on a
// goroutine of its own, so the caller's thread is never switched.
func (d *Dataplane) inNS(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(d.ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the runtime then ends this thread with the
			// goroutine instead of handing it, in the wrong namespace, to
			// other goroutines.
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// The sysctls a ProxyARP bridge needs, as paths under /proc/sys.
const (
	sysIPForward  = "net/ipv4/ip_forward"
	sysForwarding = "net/ipv4/conf/%s/forwarding"
	sysProxyARP   = "net/ipv4/conf/%s/proxy_arp"
	sysProxyDelay = "net/ipv4/neigh/%s/proxy_delay"
)

// readSysctl returns the integer value of a sysctl; call it inside inNS.
//
//	sysctl -n net.ipv4.conf.BRIDGE.proxy_arp
func readSysctl(path string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + path)
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", path, err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", path, err)
	}
	return v, nil
}

// ensureSysctl writes v unless the sysctl holds it already; call it inside
// inNS. It reports whether it wrote.
//
//	sysctl -w net.ipv4.conf.BRIDGE.proxy_arp=1
func ensureSysctl(path string, v int) (bool, error) {
	if cur, err := readSysctl(path); err == nil && cur == v {
		return false, nil
	}
	if err := os.WriteFile("/proc/sys/"+path, []byte(strconv.Itoa(v)), 0o644); err != nil {
		return false, fmt.Errorf("write sysctl %s=%d: %w", path, v, err)
	}
	return true, nil
}

// setProxyARP makes a bridge answer ARP for routed addresses at once, and
// the host forward, or turns its proxy ARP off again. Forwarding stays on:
// it is the host's, and other software may rely on it. proxy_delay stays
// 0: it delays only proxied answers, and there are none any more (and the
// kernel's default, neigh.default, exists only in the initial namespace).
// Nothing is written that already holds its value, so a bridge of overlay
// mode costs a read, and a proxy_arp that cannot even be read (a host with
// a restricted /proc/sys) is taken as off, as Observe does.
//
//	sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf.BRIDGE.forwarding=1 \
//		net.ipv4.neigh.BRIDGE.proxy_delay=0 net.ipv4.conf.BRIDGE.proxy_arp=1
//	sysctl -w net.ipv4.conf.BRIDGE.proxy_arp=0
func (d *Dataplane) setProxyARP(bridge string, on bool) error {
	return d.inNS(func() error {
		if !on {
			path := fmt.Sprintf(sysProxyARP, bridge)
			if cur, err := readSysctl(path); err != nil || cur == 0 {
				return nil
			}
			if _, err := ensureSysctl(path, 0); err != nil {
				return err
			}
			d.log.Info("set sysctl", "dev", bridge, "sysctl", "net.ipv4.conf."+bridge+".proxy_arp", "value", 0)
			return nil
		}
		// ip_forward first: writing it resets every device's forwarding.
		// The delay before proxy_arp, so that no answer is ever delayed.
		for _, s := range []struct {
			path string
			v    int
		}{
			{sysIPForward, 1},
			{fmt.Sprintf(sysForwarding, bridge), 1},
			{fmt.Sprintf(sysProxyDelay, bridge), 0},
			{fmt.Sprintf(sysProxyARP, bridge), 1},
		} {
			wrote, err := ensureSysctl(s.path, s.v)
			if err != nil {
				return err
			}
			if wrote {
				d.log.Info("set sysctl", "dev", bridge, "sysctl", strings.ReplaceAll(s.path, "/", "."), "value", s.v)
			}
		}
		return nil
	})
}

// proxyARPOf reads, for each bridge, whether its proxy ARP is fully on:
// proxy_arp set, proxy_delay 0 and forwarding on. A bridge whose sysctls
// cannot be read counts as off, so that a host without a readable
// /proc/sys still runs overlay mode: if the bridge needs proxy ARP,
// setting the device writes the sysctls and fails then, loudly. A bridge
// that went away since the link dump is silently off.
func (d *Dataplane) proxyARPOf(bridges []string) map[string]bool {
	on := make(map[string]bool, len(bridges))
	if len(bridges) == 0 {
		return on
	}
	err := d.inNS(func() error {
		var errs []error
		for _, br := range bridges {
			v, err := bridgeProxyARP(br)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			on[br] = v
		}
		return errors.Join(errs...)
	})
	if err != nil {
		d.log.Warn("cannot read proxy arp sysctls, taking them as off", "err", err)
	}
	return on
}

// bridgeProxyARP reads one bridge's proxy ARP sysctls; call it inside inNS.
func bridgeProxyARP(bridge string) (bool, error) {
	arp, err := readSysctl(fmt.Sprintf(sysProxyARP, bridge))
	if err != nil || arp == 0 {
		return false, err
	}
	delay, err := readSysctl(fmt.Sprintf(sysProxyDelay, bridge))
	if err != nil || delay != 0 {
		return false, err
	}
	fwd, err := readSysctl(fmt.Sprintf(sysForwarding, bridge))
	return fwd != 0, err
}
