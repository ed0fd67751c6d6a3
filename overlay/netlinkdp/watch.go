package netlinkdp

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Watch calls kick whenever one of our links is deleted or changes in a way
// Observe would see (name, alias, MTU, address, up, master, vxlan
// parameters), e.g. after an operator's `ip link del vxlan100`, so that the
// reconciler re-reads the kernel and repairs it; likewise when an entry of
// ours (FDB, flood, neighbour, route), a bridge's gateway address
// (watchentries.go) or our nftables table (watchnft.go) is deleted or
// changed by someone else. It also kicks when the ND responder
// stopped on an error: Observe then reports its bridges without NDProxy,
// and the reconciler serves them again. Each time it has subscribed (at
// start, and again after the subscription broke and events may have been
// lost) it kicks once, since anything may have changed while nobody was
// watching. Watch returns nil when ctx ends.
//
//	ip monitor link neigh route address netconf; nft monitor
func (d *Dataplane) Watch(ctx context.Context, kick func()) error {
	nftDone := make(chan struct{})
	go func() { defer close(nftDone); d.watchNFT(ctx, kick) }()
	defer func() { <-nftDone }()
	return d.resubscribe(ctx, "netlink", func(ctx context.Context) (bool, error) { return d.watchOnce(ctx, kick) })
}

// resubscribe runs once until ctx ends (then it returns nil), and again
// each time its subscription breaks (typically ENOBUFS: events were lost),
// after a backoff from 100 ms doubling to 10 s, reset by a run that got as
// far as subscribing. A first run that cannot subscribe at all is a setup
// problem: its error is returned.
func (d *Dataplane) resubscribe(ctx context.Context, what string, once func(context.Context) (subscribed bool, err error)) error {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		subscribed, err := once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if attempt == 0 && !subscribed {
			return err
		}
		if subscribed {
			backoff = minBackoff
		}
		d.log.Warn(what+" watch broke, resubscribing", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// watchOnce runs one subscription until it breaks or ctx ends. subscribed
// says whether it got as far as watching.
func (d *Dataplane) watchOnce(ctx context.Context, kick func()) (subscribed bool, err error) {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	ns := d.ns
	onErr := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	err = netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: onErr})
	if err != nil {
		return false, fmt.Errorf("subscribe to link updates: %w", err)
	}
	var netconf <-chan int32
	entries, drain, err := d.subscribeEntries(done, onErr)
	defer func() {
		close(done)
		for range ch { // let the subscription goroutines finish
		}
		drain()
		if netconf != nil {
			for range netconf {
			}
		}
	}()
	if err != nil {
		return false, err
	}
	if netconf, err = d.subscribeNetconf(done, onErr); err != nil {
		return false, err
	}
	// Record what our links look like now, after subscribing, so that no
	// change falls between the dump and the first event.
	links, err := dump("links", d.h.LinkList)
	if err != nil {
		return false, err
	}
	seen, ports := map[int]string{}, map[int]string{}
	for _, l := range links {
		if owned(l) {
			seen[l.Attrs().Index] = fingerprint(l)
		}
	}
	learned, err := d.learnedNeighs(seen)
	if err != nil {
		return false, err
	}
	kick()
	closed := func(what string) error {
		select {
		case err := <-errc:
			return err
		default:
			return fmt.Errorf("%s subscription closed", what)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case u, ok := <-ch:
			if !ok {
				return true, closed("link")
			}
			if d.changed(seen, ports, u) {
				kick()
			}
		case u, ok := <-entries.neigh:
			if !ok {
				return true, closed("neighbour")
			}
			if d.neighKick(seen, learned, u) {
				kick()
			}
		case u, ok := <-entries.route:
			if !ok {
				return true, closed("route")
			}
			if d.routeKick(u) {
				kick()
			}
		case u, ok := <-entries.addr:
			if !ok {
				return true, closed("address")
			}
			if d.addrKick(seen, u) {
				kick()
			}
		case idx, ok := <-netconf:
			if !ok {
				return true, closed("netconf")
			}
			if netconfKick(seen, idx) {
				kick()
			}
		case <-d.ndStopped:
			kick()
		}
	}
}

// changed records u in seen (a link of ours) or ports (a bridge port's
// own message about one) and reports whether it touches one of our links.
func (d *Dataplane) changed(seen, ports map[int]string, u netlink.LinkUpdate) bool {
	a := u.Attrs()
	prev, known := seen[a.Index]
	if u.Family == unix.AF_BRIDGE {
		// A bridge port's own message (learning, neigh_suppress, port
		// state) carries no alias: it says nothing of ownership, and
		// concerns us only on a port of ours, and only when it says
		// something new: the kernel repeats it unchanged for the vxlan
		// port in the middle of a burst of FDB writes (~1 s into taking in
		// 100,000 routes), and every kick re-reads the whole FDB. The
		// first one of a port kicks: nothing read it before.
		if !known {
			return false
		}
		fp := portFingerprint(u.Link)
		if pfp, ok := ports[a.Index]; ok && pfp == fp {
			return false
		}
		ports[a.Index] = fp
		return true
	}
	if u.Header.Type == unix.RTM_DELLINK {
		if known || owned(u.Link) {
			delete(seen, a.Index)
			delete(ports, a.Index)
			d.log.Info("device deleted behind our back", "dev", a.Name)
			return true
		}
		return false
	}
	if !owned(u.Link) {
		if known { // our alias was taken off: it is no longer ours
			delete(seen, a.Index)
			delete(ports, a.Index)
			return true
		}
		return false
	}
	fp := fingerprint(u.Link)
	if known && fp == prev {
		return false // e.g. carrier or statistics changes
	}
	seen[a.Index] = fp
	return true
}

// portFingerprint is what a bridge port's own message says of it, as
// text: its bridge flags (learning, neigh_suppress, ...), state, MTU and
// master.
func portFingerprint(l netlink.Link) string {
	a := l.Attrs()
	return fmt.Sprintf("%s flags %v oper %s mtu %d master %d", a.Protinfo, a.Flags, a.OperState, a.MTU, a.MasterIndex)
}

// fingerprint is what Observe reads from a link, as text.
func fingerprint(l netlink.Link) string {
	a := l.Attrs()
	// The operational state matters too: a bridge that loses its carrier
	// (its vxlan port went down) loses its neighbours, ours included. In
	// overlay mode it does not flap with the pods: the vxlan port keeps the
	// carrier up. In routed mode the bridge's carrier follows its first and
	// last pod, which costs one re-read each time.
	up := a.Flags&net.FlagUp != 0
	fp := fmt.Sprintf("%s %s %s mtu %d addr %s up %v oper %s master %d", l.Type(), a.Name, a.Alias, a.MTU, a.HardwareAddr, up, a.OperState, a.MasterIndex)
	if vx, ok := l.(*netlink.Vxlan); ok {
		fp += fmt.Sprintf(" id %d local %s dev %d port %d learning %v", vx.VxlanId, vx.SrcAddr, vx.VtepDevIndex, vx.Port, vx.Learning)
	}
	return fp
}
