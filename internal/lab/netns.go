package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/internal/netnsdo"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// listNetns returns the names of all named namespaces.
func listNetns() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// delNetns deletes a namespace if it exists. Processes still inside it whose
// cmdline contains marker (our work dir) are stopped first: a namespace
// whose name is deleted lives on as long as a process holds it.
func delNetns(ctx context.Context, name, marker string) error {
	if _, err := os.Stat(netnsDir + "/" + name); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var errs []error
	if out, err := run(ctx, nil, nil, "ip", "netns", "pids", name); err == nil {
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil || !cmdlineContains(pid, marker) {
				continue
			}
			if err := terminate(ctx, pid, marker, 5*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := run(ctx, nil, nil, "ip", "netns", "del", name); err != nil {
		if _, serr := os.Stat(netnsDir + "/" + name); !errors.Is(serr, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// addNetns records and creates a namespace with lo up.
func (l *Lab) addNetns(ctx context.Context, name string) error {
	if err := l.run.recordNetns(name); err != nil {
		return err
	}
	if _, err := run(ctx, nil, nil, "ip", "netns", "add", name); err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	return ipBatch(ctx, name, []string{"link set lo up"})
}

// addNetnsHere creates namespace name (recorded first, for cleanup) with
// lo up from this process, as a container runtime creates a pod's: a
// thread unshares its network namespace, which is bind-mounted to
// /run/netns/name. `ip netns add` and `ip -n name link set lo up` cost two
// processes, each ~4 ms of CPU with a thousand namespaces mounted. It needs
// /run/netns set up by an `ip netns add` before (the lab's first
// namespaces are made that way), so that the mount propagates as
// iproute2's do.
func (l *Lab) addNetnsHere(name string) error {
	if err := l.run.recordNetns(name); err != nil {
		return err
	}
	if err := createNetns(name); err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	return nil
}

// createNetns is addNetnsHere's namespace, made on a locked thread:
// NewNamed moves the thread into the new namespace, and netnsdo.Do moves
// it back before unlocking it. (A thread must not end with its goroutine
// instead: the plugins the lab starts from such threads get SIGKILL,
// Pdeathsig, when their parent thread ends.)
func createNetns(name string) error {
	self, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer self.Close()
	return netnsdo.Do(self, func() error {
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
			err = linkUp("lo")
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// NewNamed leaves its file behind when the bind mount fails.
			_ = unix.Unmount(netnsDir+"/"+name, unix.MNT_DETACH)
			_ = os.Remove(netnsDir + "/" + name)
		}
		return err
	})
}

// linkUp sets link name up in the calling thread's namespace.
func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// addHostNS creates a host namespace whose eth0 is a port of the underlay
// bridge (the port is named after the host) with addr/24.
func (l *Lab) addHostNS(ctx context.Context, ns, port, addr string) error {
	if err := l.addNetns(ctx, ns); err != nil {
		return err
	}
	if err := ipBatch(ctx, l.Underlay, []string{
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", port, ns),
		fmt.Sprintf("link set %s master ul up", port),
	}); err != nil {
		return err
	}
	if err := ipBatch(ctx, ns, []string{
		fmt.Sprintf("addr add %s/%d dev eth0", addr, underlayLen),
		"link set eth0 up",
	}); err != nil {
		return err
	}
	// Hosts route between their pods and the gateway.
	if err := sysctl(ctx, ns, "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	if l.opts.DualStack {
		// The bridge must hold the IPv6 gateway and neighbours; pods'
		// interfaces are the CNI plugin's to enable.
		return sysctl(ctx, ns, "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0")
	}
	return nil
}

// AddNetns creates namespace <run>-<suffix> with lo up; Close deletes it.
func (l *Lab) AddNetns(ctx context.Context, suffix string) (string, error) {
	name := l.ID + "-" + suffix
	return name, l.addNetns(ctx, name)
}

// AddUnderlayNS creates namespace <run>-<suffix> whose eth0 (addr/24) is a
// port named port of the underlay bridge, as the hosts' are; Close deletes
// it.
func (l *Lab) AddUnderlayNS(ctx context.Context, suffix, port, addr string) (string, error) {
	name := l.ID + "-" + suffix
	return name, l.addHostNS(ctx, name, port, addr)
}

// DelNetns deletes a namespace this run created.
func (l *Lab) DelNetns(ctx context.Context, name string) error { return delNetns(ctx, name, l.Dir) }

// inNetns runs f on a locked thread switched into namespace name, and
// switches back: sockets made there stay in it, and /proc/sys/net shows
// its sysctls. Name "" is the caller's own namespace (a pinger running
// inside a pod: Ping(ctx, "", ip, n)).
func inNetns(name string, f func() error) error {
	if name == "" {
		return f()
	}
	return netnsdo.DoNamed(name, f)
}

// sysctl sets sysctls (`sysctl -w key=value`) of namespace ns by writing
// /proc/sys from a thread inside it, so the lab needs no procps.
func sysctl(_ context.Context, ns string, kv ...string) error {
	err := inNetns(ns, func() error {
		for _, s := range kv {
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				return fmt.Errorf("sysctl %q: want key=value", s)
			}
			path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
			if err := os.WriteFile(path, []byte(v), 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sysctl %s in %s: %w", strings.Join(kv, " "), ns, err)
	}
	return nil
}
