package netlinkdp

import (
	"fmt"
	"hash/maphash"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vxbgp/vxbgp/overlay"
)

// Watch also follows the entries on our links and our routes, so that an
// entry deleted or changed by hand is back within the event's round trip
// rather than at the next resync:
//
//	ip monitor neigh       FDB and flood entries on our vxlan devices (AF_BRIDGE),
//	                       extern_learn neighbours on our bridges
//	ip monitor route       routes of protocol 201, metric 20, main table
//	ip monitor address     a global address deleted from one of our bridges (the gateway)
//
// The reconciler itself makes thousands of such changes in a pass, and each
// comes back as an event. Kicking on those would re-read the whole kernel
// after every pass, so Apply notes the entries it is about to change
// (echoes) and Watch skips the events that match: a delete of an entry we
// just deleted, an add or change of one we just set. Anything else on an
// object of ours kicks. A foreign change to an entry within echoTTL of our
// own change to it is taken for our echo and waits for the resync.

// echoTTL is how long an event is taken for the echo of our own change.
const echoTTL = 2 * time.Second

// echoes remembers the entries Apply changed recently. A pass over a
// table of 100,000 entries notes them all within echoTTL, so an entry
// costs a 16-byte slot: its key's 64-bit hash and its deadline in
// nanoseconds, the low bit saying set or delete. Two keys with one hash
// (odds ~1e-10 among 100,000) would take a foreign change to one, made
// within echoTTL of ours to the other, for our echo: the resync repairs
// it, as for a foreign change to the entry itself within echoTTL.
type echoes struct {
	mu    sync.Mutex
	seed  maphash.Seed
	m     map[uint64]int64
	adds  int       // since the last sweep of expired entries
	epoch time.Time // what the deadlines count from (monotonic)
}

// echo packs a deadline (since epoch) and whether the change was a delete.
func echo(until time.Duration, del bool) int64 {
	v := int64(until) << 1
	if del {
		v |= 1
	}
	return v
}

// entryKey names an entry whose events Watch follows: an FDB entry by its
// MAC, a flood entry by its VTEP, a neighbour by its IP, a route by its
// prefix (ip and bits).
type entryKey struct {
	kind entryKind
	bits uint8
	mac  overlay.MAC
	ip   netip.Addr
}

type entryKind uint8

const (
	entryNone entryKind = iota
	entryFDB
	entryFlood
	entryNeigh
	entryRoute
)

func (k entryKey) String() string {
	switch k.kind {
	case entryFDB:
		return "fdb " + k.mac.String()
	case entryFlood:
		return "flood " + k.ip.String()
	case entryNeigh:
		return "neigh " + k.ip.String()
	case entryRoute:
		return "route " + netip.PrefixFrom(k.ip, int(k.bits)).String()
	}
	return ""
}

func routeKey(p netip.Prefix) entryKey {
	return entryKey{kind: entryRoute, ip: p.Addr(), bits: uint8(p.Bits())}
}

// note records that we are about to set (del false) or delete key.
func (e *echoes) note(key entryKey, del bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.noteLocked(time.Now(), key, del)
}

// noteLocked is note under e.mu, at now.
func (e *echoes) noteLocked(now time.Time, key entryKey, del bool) {
	if e.m == nil {
		e.m, e.seed, e.epoch = map[uint64]int64{}, maphash.MakeSeed(), now
	}
	since := now.Sub(e.epoch)
	e.m[maphash.Comparable(e.seed, key)] = echo(since+echoTTL, del)
	if e.adds++; e.adds >= 4096 {
		e.adds = 0
		for k, v := range e.m {
			if int64(since) > v>>1 {
				delete(e.m, k)
			}
		}
	}
}

// ours reports whether an event (a delete or not) on key is the echo of
// our own recent change.
func (e *echoes) ours(key entryKey, del bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		return false
	}
	v, ok := e.m[maphash.Comparable(e.seed, key)]
	return ok && (v&1 == 1) == del && int64(time.Since(e.epoch)) < v>>1
}

// echoKey names the entry op changes, as neighKick and routeKick name it
// from an event; kind entryNone for ops whose events Watch does not
// follow (devices, NAT) or never gets (an FDB entry set: the socket
// drops its events, neighFilter).
func echoKey(op overlay.Op) entryKey {
	switch {
	case op.FDB != nil && op.Kind == overlay.OpSet:
		return entryKey{}
	case op.FDB != nil:
		return entryKey{kind: entryFDB, mac: op.FDB.MAC}
	case op.Flood != nil:
		return entryKey{kind: entryFlood, ip: op.Flood.VTEP}
	case op.Neigh != nil:
		return entryKey{kind: entryNeigh, ip: op.Neigh.IP}
	case op.Route != nil:
		return routeKey(op.Route.Dst)
	}
	return entryKey{}
}

// noteEcho records op before Apply carries it out (so that its events,
// which may arrive before Apply returns, find it).
func (d *Dataplane) noteEcho(op overlay.Op) {
	if k := echoKey(op); k.kind != entryNone {
		d.echo.note(k, op.Kind == overlay.OpDel)
	}
}

// noteEchoes is noteEcho for the ops of a batch's messages (ops[m.op];
// an op's messages are adjacent), under one lock and one reading of the
// clock: a burst of routes brings 100,000.
func (d *Dataplane) noteEchoes(ops []overlay.Op, msgs []batchMsg) {
	if len(msgs) == 0 {
		return
	}
	e := &d.echo
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	last := -1
	for _, m := range msgs {
		if m.op == last {
			continue
		}
		last = m.op
		op := ops[m.op]
		if k := echoKey(op); k.kind != entryNone {
			e.noteLocked(now, k, op.Kind == overlay.OpDel)
		}
	}
}

// neighKick reports whether a neighbour or FDB event concerns an entry of
// ours that we did not just change ourselves. links holds our links'
// fingerprints by ifindex (watch.go); learned the extern_learn neighbours
// on our bridges (learnedNeighs), which it keeps up to date: deleting a
// neighbour clears its extern_learn flag before the kernel reports it
// (NTF_EXT_LEARNED is an admin flag), so the delete's events do not say
// whether it was ours.
func (d *Dataplane) neighKick(links map[int]string, learned map[string]bool, u netlink.NeighUpdate) bool {
	typ := linkType(links, u.LinkIndex)
	if typ == "" || (u.Family == unix.AF_BRIDGE && len(u.HardwareAddr) != 6) {
		return false
	}
	var key entryKey
	var mac overlay.MAC
	copy(mac[:], u.HardwareAddr) // a neighbour's delete comes without it
	ip := addrFrom(u.IP)
	switch {
	case u.Family == unix.AF_BRIDGE && typ == "vxlan" && mac.IsZero():
		if u.Flags&netlink.NTF_SELF == 0 || !ip.IsValid() {
			return false
		}
		key = entryKey{kind: entryFlood, ip: ip}
	case u.Family == unix.AF_BRIDGE && typ == "vxlan":
		if u.Flags&netlink.NTF_EXT_LEARNED == 0 {
			return false // not ours (Observe skips it too)
		}
		key = entryKey{kind: entryFDB, mac: mac}
	case u.Family != unix.AF_BRIDGE && typ == "bridge":
		if !ip.IsValid() {
			return false
		}
		key = entryKey{kind: entryNeigh, ip: ip}
		id := neighID(u.LinkIndex, ip)
		switch {
		case u.Type == unix.RTM_NEWNEIGH && u.Flags&netlink.NTF_EXT_LEARNED != 0:
			learned[id] = true
		case learned[id]: // deleted, or no longer extern_learn
			delete(learned, id)
			return !d.echo.ours(key, true)
		default:
			return false // a pod's or the host's own resolution
		}
	default:
		return false
	}
	del := u.Type == unix.RTM_DELNEIGH
	if d.echo.ours(key, del) {
		return false
	}
	d.log.Debug("entry changed behind our back", "entry", key.String(), "deleted", del, "dev", u.LinkIndex)
	return true
}

func neighID(ifindex int, ip netip.Addr) string { return fmt.Sprintf("%d %s", ifindex, ip) }

// learnedNeighs returns the extern_learn neighbours on our bridges, for
// neighKick.
//
//	ip neigh show extern_learn
func (d *Dataplane) learnedNeighs(links map[int]string) (map[string]bool, error) {
	learned := map[string]bool{}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		entries, err := dump("neighbours", func() ([]netlink.Neigh, error) { return d.h.NeighList(0, fam) })
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if ip := addrFrom(e.IP); ip.IsValid() && e.Flags&netlink.NTF_EXT_LEARNED != 0 && linkType(links, e.LinkIndex) == "bridge" {
				learned[neighID(e.LinkIndex, ip)] = true
			}
		}
	}
	return learned, nil
}

// routeKick reports whether a route event concerns a route of ours that we
// did not just change ourselves.
func (d *Dataplane) routeKick(u netlink.RouteUpdate) bool {
	if u.Protocol != overlay.RouteProtocol || u.Priority != RouteMetric || u.Table != unix.RT_TABLE_MAIN || u.Dst == nil {
		return false
	}
	p, ok := prefixFromNet(u.Dst)
	if !ok {
		return false
	}
	del := u.Type == unix.RTM_DELROUTE
	if d.echo.ours(routeKey(p), del) {
		return false
	}
	d.log.Debug("route changed behind our back", "prefix", p, "deleted", del)
	return true
}

// addrKick reports whether an address event takes a global address off
// one of our bridges: the gateway. Our own removals of stale addresses are
// rare (a gateway changed in the config) and cost one more pass.
func (d *Dataplane) addrKick(links map[int]string, u netlink.AddrUpdate) bool {
	if u.NewAddr || u.Scope != unix.RT_SCOPE_UNIVERSE || linkType(links, u.LinkIndex) != "bridge" {
		return false
	}
	d.log.Debug("address deleted behind our back", "ip", u.LinkAddress.String(), "dev", u.LinkIndex)
	return true
}

// linkType is the type of our link ifindex ("vxlan", "bridge"), "" if it is
// not ours: fingerprint starts with it.
func linkType(links map[int]string, ifindex int) string {
	typ, _, _ := strings.Cut(links[ifindex], " ")
	return typ
}

func prefixFromNet(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits).Masked(), true
}

// entryUpdates are the channels of the entry subscriptions.
type entryUpdates struct {
	neigh chan netlink.NeighUpdate
	route chan netlink.RouteUpdate
	addr  chan netlink.AddrUpdate
}

// subscribeEntries subscribes to neighbour, route and address updates in
// the Dataplane's namespace the way the link subscription does (for New's
// Dataplane netns.None(): the socket opens where the process is, no setns).
// The receive buffers are large because a pass of ours sends thousands of
// events in a burst; an overflow breaks the subscription, and Watch then
// resubscribes and kicks.
func (d *Dataplane) subscribeEntries(done chan struct{}, onErr func(error)) (entryUpdates, func(), error) {
	const buf = 8 << 20
	u := entryUpdates{
		neigh: make(chan netlink.NeighUpdate, 256),
		route: make(chan netlink.RouteUpdate, 64),
		addr:  make(chan netlink.AddrUpdate, 64),
	}
	ns := d.ns
	var drains []func()
	drain := func() {
		for _, f := range drains {
			f()
		}
	}
	if err := d.subscribeNeigh(u.neigh, done, onErr, buf); err != nil { // the bulk of the events: neighsub.go
		return u, drain, fmt.Errorf("subscribe to neighbour updates: %w", err)
	}
	drains = append(drains, func() {
		for range u.neigh {
		}
	})
	if err := netlink.RouteSubscribeWithOptions(u.route, done, netlink.RouteSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr, ReceiveBufferSize: buf, ReceiveBufferForceSize: true,
	}); err != nil {
		return u, drain, fmt.Errorf("subscribe to route updates: %w", err)
	}
	drains = append(drains, func() {
		for range u.route {
		}
	})
	if err := netlink.AddrSubscribeWithOptions(u.addr, done, netlink.AddrSubscribeOptions{
		Namespace: &ns, ErrorCallback: onErr,
	}); err != nil {
		return u, drain, fmt.Errorf("subscribe to address updates: %w", err)
	}
	drains = append(drains, func() {
		for range u.addr {
		}
	})
	return u, drain, nil
}
