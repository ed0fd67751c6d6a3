package netlinkdp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/ndproxy"
	"github.com/vxbgp/vxbgp/overlay/nftnat"
)

// AliasPrefix marks the links vxbgp owns: their alias is AliasPrefix plus the
// network's name. Observe sees only links carrying it, and Apply never
// modifies or deletes a link without it.
const AliasPrefix = "vxbgp:"

var (
	// ErrNoDevice is wrapped by Apply when an entry's device (the VNI's vxlan
	// device or bridge) does not exist yet; the reconciler retries.
	ErrNoDevice = errors.New("no such device")
	// ErrNotManaged is wrapped by Apply when a link with one of our names
	// exists without our alias: we refuse to take it over.
	ErrNotManaged = errors.New("not managed by vxbgp")
)

// Dataplane is the Linux overlay.Dataplane of one network namespace.
type Dataplane struct {
	h *netlink.Handle
	// raw carries the rtnetlink requests netlink.Handle has no method
	// for (netconf.go).
	raw *nl.SocketHandle
	// ns is NewAt's namespace (our own duplicate), entered to open
	// sockets and to reach /proc/sys (inNS); netns.None() for New's, the
	// process's own namespace, which is never entered.
	ns  netns.NsHandle
	log *slog.Logger

	mu sync.Mutex
	// links caches each VNI's ifindexes so that the thousands of entry ops
	// of a pass do not each look the device up by name. Observe refreshes
	// it; a device op updates it; ENODEV drops the stale entry.
	links map[uint32]linkRef
	// packet is the raw socket gratuitous ARPs go out of, opened in our
	// namespace on first use.
	packet     int
	packetOpen bool

	// nd answers IPv6 neighbour solicitations on the bridges of devices
	// with NDProxy, from a socket it opens in our namespace (openND).
	nd *ndproxy.Responder
	// ndStopped tells Watch that the responder stopped on an error, so
	// that the reconciler re-reads (Observe then reports its bridges
	// without NDProxy) and serves them again.
	ndStopped chan struct{}

	// batch is the socket of ApplyBatch (batch.go), nil until first used.
	batch *batchSock
	// lastFDB is how many unicast MACs the last Observe found: the next
	// one's map starts that large (observeFDB).
	lastFDB atomic.Int64

	// nat is the nftables connection of the NAT table (nat.go), nil
	// until first used.
	nat *nftnat.Conn

	// echo holds the entries Apply changed recently, whose events Watch
	// skips (watchentries.go).
	echo echoes
	// linkAdded, if set (tests only: export_test.go), runs right after
	// a link is created; an error ends the Apply there, as if the process
	// had been killed.
	linkAdded func(name string) error
}

// linkRef is one network's pair of links. bridge is 0 while the vxlan
// device is not enslaved; vxlan is 0 for a network without vxlan device.
type linkRef struct {
	vxlan, bridge         int
	vxlanName, bridgeName string
	mac                   overlay.MAC // the bridge's: the gateway MAC
	proxyARP              bool        // the bridge answers ARP for routed addresses
}

var _ overlay.Dataplane = (*Dataplane)(nil)

// New returns a Dataplane for the network namespace the process runs in.
// It never enters a namespace: setns needs CAP_SYS_ADMIN, even into the
// namespace the process is in already, and the agent runs without it. Its
// netlink and packet sockets are opened where the process is, and
// /proc/sys/net is read (and written) as it is, which shows this
// namespace's sysctls.
func New(log *slog.Logger) (*Dataplane, error) {
	return newDataplane(netns.None(), log)
}

// newDataplane opens the sockets of a Dataplane in ns, or with
// netns.None() in the current namespace without entering any. Only the
// tests pass a namespace (NewAt, export_test.go): nothing the agent
// builds can enter one.
func newDataplane(ns netns.NsHandle, log *slog.Logger) (*Dataplane, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	raw, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	d := &Dataplane{h: h, raw: &nl.SocketHandle{Socket: raw}, ns: ns, log: log, links: map[uint32]linkRef{}, ndStopped: make(chan struct{}, 1)}
	d.nd = ndproxy.New(ndproxy.Config{
		Open: d.openND,
		Stopped: func(error) {
			select {
			case d.ndStopped <- struct{}{}:
			default:
			}
		},
		Logger: log,
	})
	return d, nil
}

// Close stops the ND responder and releases the netlink and packet sockets
// and the namespace handle. Call it after Watch has returned.
func (d *Dataplane) Close() error {
	d.nd.Close()
	d.closeNAT()
	d.mu.Lock()
	if d.batch != nil {
		d.batch.close()
		d.batch = nil
	}
	d.mu.Unlock()
	d.h.Close()
	d.raw.Socket.Close()
	d.mu.Lock()
	if d.packetOpen {
		unix.Close(d.packet)
		d.packetOpen = false
	}
	d.mu.Unlock()
	if !d.ns.IsOpen() {
		return nil
	}
	return d.ns.Close()
}

// Apply implements overlay.Dataplane. Every operation is idempotent: setting
// what exists and deleting what is gone both succeed.
func (d *Dataplane) Apply(ctx context.Context, op overlay.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if op.Kind != overlay.OpSet && op.Kind != overlay.OpDel {
		return fmt.Errorf("%s: bad op kind", op)
	}
	set := op.Kind == overlay.OpSet
	d.noteEcho(op)
	switch {
	case op.Device != nil && set:
		return d.setDevice(*op.Device)
	case op.Device != nil:
		return d.delDevice(*op.Device)
	case op.FDB != nil && set:
		return d.setFDB(*op.FDB)
	case op.FDB != nil:
		return d.delFDB(*op.FDB)
	case op.Flood != nil && set:
		return d.setFlood(*op.Flood)
	case op.Flood != nil:
		return d.delFlood(*op.Flood)
	case op.Neigh != nil && set:
		return d.setNeigh(*op.Neigh)
	case op.Neigh != nil:
		return d.delNeigh(*op.Neigh)
	case op.Route != nil && set:
		return d.setRoute(*op.Route)
	case op.Route != nil:
		return d.delRoute(*op.Route)
	case op.NAT != nil && set:
		return d.setNAT(*op.NAT)
	case op.NAT != nil:
		return d.delNAT()
	}
	return fmt.Errorf("%s: empty op", op)
}

// owned reports whether l carries our alias.
// newLinkGroup is the link group (IFLA_GROUP) our links are created in.
// The kernel takes no alias in the RTM_NEWLINK that creates a link, only
// in a later RTM_SETLINK, so a link would exist for a moment without the
// alias that marks it ours, and an agent SIGKILLed then would leave a link
// the next one refuses as foreign (ErrNotManaged), for ever. The group is
// taken at creation: until setCommon has set the alias and put the link
// back in the default group, it marks the link ours. ("vxbp" in ASCII.)
const newLinkGroup = 0x76786270

// owned reports whether l is ours: it carries our alias, or has none yet
// and is in newLinkGroup (created by an agent killed before the alias).
func owned(l netlink.Link) bool {
	a := l.Attrs()
	return strings.HasPrefix(a.Alias, AliasPrefix) || (a.Alias == "" && a.Group == newLinkGroup)
}

func alias(network string) string { return AliasPrefix + network }

// managedLink returns the link called name, nil if there is none, or an
// error wrapping ErrNotManaged if it exists without our alias.
//
//	ip -d link show NAME
func (d *Dataplane) managedLink(name string) (netlink.Link, error) {
	l, err := d.h.LinkByName(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get link %s: %w", name, err)
	}
	if !owned(l) {
		return nil, fmt.Errorf("device %s exists and is %w", name, ErrNotManaged)
	}
	return l, nil
}

// device returns vni's ifindexes, from the cache or from a link dump: its
// vxlan device and the bridge that is its master, or failing a vxlan
// device, the bridge named overlay.BridgeName(vni).
func (d *Dataplane) device(vni uint32) (linkRef, error) {
	d.mu.Lock()
	ref, ok := d.links[vni]
	d.mu.Unlock()
	if ok {
		return ref, nil
	}
	links, err := dump("links", d.h.LinkList)
	if err != nil {
		return linkRef{}, err
	}
	var br netlink.Link
	for _, l := range links {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || !owned(l) || uint32(vx.VxlanId) != vni {
			continue
		}
		ref = linkRef{vxlan: vx.Index, vxlanName: vx.Name}
		for _, m := range links {
			if m.Attrs().Index == vx.MasterIndex && m.Type() == "bridge" && owned(m) {
				br = m
			}
		}
		break
	}
	if ref.vxlan == 0 {
		for _, l := range links {
			if l.Type() == "bridge" && owned(l) && l.Attrs().Name == overlay.BridgeName(vni) {
				br = l
			}
		}
	}
	if ref.vxlan == 0 && br == nil {
		return linkRef{}, fmt.Errorf("vni %d: %w", vni, ErrNoDevice)
	}
	if br != nil {
		ref.bridge, ref.bridgeName, ref.mac = br.Attrs().Index, br.Attrs().Name, linkMAC(br)
		ref.proxyARP = d.proxyARPOf([]string{ref.bridgeName})[ref.bridgeName]
	}
	d.remember(vni, ref)
	return ref, nil
}

// withDevice runs f with vni's ifindexes. If the kernel says the device is
// gone (ENODEV), the cached ifindexes were stale (the device was recreated
// behind our back): look it up again and retry once.
func (d *Dataplane) withDevice(vni uint32, f func(linkRef) error) error {
	ref, err := d.device(vni)
	if err != nil {
		return err
	}
	err = f(ref)
	if !errors.Is(err, unix.ENODEV) {
		return err
	}
	d.forget(vni)
	if ref, err = d.device(vni); err != nil {
		return err
	}
	return f(ref)
}

func (d *Dataplane) remember(vni uint32, ref linkRef) {
	d.mu.Lock()
	d.links[vni] = ref
	d.mu.Unlock()
}

func (d *Dataplane) forget(vni uint32) {
	d.mu.Lock()
	delete(d.links, vni)
	d.mu.Unlock()
}

func (d *Dataplane) setLinks(links map[uint32]linkRef) {
	d.mu.Lock()
	d.links = links
	d.mu.Unlock()
}
