package netlinkdp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNS runs f where /proc/sys/net and new sockets belong to the
// Dataplane's namespace: /proc/sys/net shows the sysctls of the namespace
// of the thread that opens a file there, and a packet socket belongs to
// the namespace of the thread that creates it. For New's Dataplane that is
// any thread of the process, so f just runs. For NewAt's (tests), f runs
// on an OS thread switched into its namespace, on a goroutine of its own,
// so the caller's thread is never switched.
func (d *Dataplane) inNS(f func() error) error {
	if !d.ns.IsOpen() {
		return f()
	}
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

// The sysctls a ProxyARP bridge needs, as paths under /proc/sys. Only the
// host-wide ones are ever written there (ensureSysctl); the bridge's own
// are read there and written through netlink (netconf.go).
const (
	sysIPForward  = "net/ipv4/ip_forward"
	sysForwarding = "net/ipv4/conf/%s/forwarding"
	sysProxyARP   = "net/ipv4/conf/%s/proxy_arp"
	sysProxyDelay = "net/ipv4/neigh/%s/proxy_delay"
)

// ErrSysctlReadOnly is wrapped by Apply when a host-wide sysctl does not
// hold the value the agent needs and /proc/sys cannot be written (a
// container's /proc/sys is mounted read-only): the host must set it. The
// reconciler retries, readyz reports it, and it is counted in
// vxbgp_reconcile_errors_total.
var ErrSysctlReadOnly = errors.New("/proc/sys is not writable here")

// sysctlName is a /proc/sys path in sysctl(8)'s dotted form.
func sysctlName(path string) string { return strings.ReplaceAll(path, "/", ".") }

// readSysctl returns the integer value of a sysctl; call it inside inNS.
//
//	sysctl -n net.ipv4.conf.BRIDGE.proxy_arp
func readSysctl(path string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + path)
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", sysctlName(path), err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", sysctlName(path), err)
	}
	return v, nil
}

// ensureSysctl writes v unless the sysctl holds it already; call it inside
// inNS. It reports whether it wrote. A value that is right costs a read
// only, so a read-only /proc/sys is fine as long as the host has set it;
// one that is wrong there fails with ErrSysctlReadOnly, naming the sysctl
// and the fix.
//
//	sysctl -w net.ipv4.ip_forward=1
func ensureSysctl(path string, v int) (bool, error) {
	cur, rerr := readSysctl(path)
	if rerr == nil && cur == v {
		return false, nil
	}
	err := os.WriteFile("/proc/sys/"+path, []byte(strconv.Itoa(v)), 0o644)
	if err == nil {
		return true, nil
	}
	name := sysctlName(path)
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		is := "unreadable"
		if rerr == nil {
			is = strconv.Itoa(cur)
		}
		return false, fmt.Errorf("sysctl %s is %s and vxbgp needs %d, but %w (%v): set it on the host "+
			"(sysctl -w %s=%d, and a file in /etc/sysctl.d/ to keep it)", name, is, v, ErrSysctlReadOnly, err, name, v)
	}
	return false, fmt.Errorf("write sysctl %s=%d: %w", name, v, err)
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
// The bridge's own settings go through netlink (CAP_NET_ADMIN), since a
// bridge the agent just created cannot have them from the host; only
// ip_forward, the host's switch, is a /proc/sys write, and only when the
// host has not turned it on itself.
//
//	sysctl -w net.ipv4.ip_forward=1 net.ipv4.conf.BRIDGE.forwarding=1 \
//		net.ipv4.neigh.BRIDGE.proxy_delay=0 net.ipv4.conf.BRIDGE.proxy_arp=1
//	sysctl -w net.ipv4.conf.BRIDGE.proxy_arp=0
func (d *Dataplane) setProxyARP(br netlink.Link, on bool) error {
	name, index := br.Attrs().Name, br.Attrs().Index
	var arp, delay, fwd int
	var rerr error
	err := d.inNS(func() error {
		if on {
			// ip_forward first: writing it resets every device's forwarding.
			wrote, err := ensureSysctl(sysIPForward, 1)
			if err != nil {
				return err
			}
			if wrote {
				d.log.Info("set sysctl", "sysctl", sysctlName(sysIPForward), "value", 1)
			}
		}
		arp, rerr = readSysctl(fmt.Sprintf(sysProxyARP, name))
		if on && rerr == nil {
			delay, rerr = readSysctl(fmt.Sprintf(sysProxyDelay, name))
		}
		if on && rerr == nil {
			fwd, rerr = readSysctl(fmt.Sprintf(sysForwarding, name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !on {
		if rerr != nil || arp == 0 {
			return nil
		}
		if err := d.setInetConf(index, map[int]uint32{devconfProxyARP: 0}); err != nil {
			return err
		}
		d.log.Info("set sysctl", "dev", name, "sysctl", "net.ipv4.conf."+name+".proxy_arp", "value", 0)
		return nil
	}
	// Unreadable values are written all the same: netlink does not need
	// /proc/sys. The delay before proxy_arp, so that no answer is ever
	// delayed.
	if rerr != nil || delay != 0 {
		if err := d.setProxyDelay(index, 0); err != nil {
			return err
		}
		d.log.Info("set sysctl", "dev", name, "sysctl", "net.ipv4.neigh."+name+".proxy_delay", "value", 0)
	}
	if rerr != nil || fwd != 1 || arp != 1 {
		if err := d.setInetConf(index, map[int]uint32{devconfForwarding: 1, devconfProxyARP: 1}); err != nil {
			return err
		}
		d.log.Info("set sysctl", "dev", name, "sysctl", "net.ipv4.conf."+name+".{forwarding,proxy_arp}", "value", 1)
	}
	return nil
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
