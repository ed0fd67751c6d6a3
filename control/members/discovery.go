package members

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Discovery is this host's membership of the cluster. New, then Run.
type Discovery struct {
	c       Config
	log     *slog.Logger
	t       *table
	started atomic.Bool
	leaving atomic.Bool // announced in our metadata by Leave

	mu sync.Mutex // held by Leave, so that Run does not shut down under it
	ml *memberlist.Memberlist
}

// Retries of a join that found nobody: from minJoinRetry, doubling, up to
// the RejoinInterval.
const minJoinRetry = 500 * time.Millisecond

// leaveTimeout bounds Leave when its ctx has no deadline.
const leaveTimeout = 5 * time.Second

var errNotRunning = errors.New("gossip is not running")

// New checks c: the metadata must be valid and fit memberlist's 512
// bytes, keys must be 16, 24 or 32 bytes, seeds host or host:port.
// Nothing is bound before Run.
func New(c Config) (*Discovery, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return &Discovery{c: c, log: c.Logger, t: newTable(c.Self, c.ForgetAfter, c.Logger)}, nil
}

// Run binds Self.Addr:BindPort (TCP and UDP), joins the seeds and keeps the
// member table until ctx ends. A seed that does not answer never fails
// Run: the host serves its own pods alone meanwhile, and the seeds are
// tried again from 0.5 s, doubling, up to RejoinInterval; once a member
// is found, every RejoinInterval (a healed partition merges then). Only a
// failure to bind is an error.
//
// When ctx ends, Run shuts memberlist down without leaving: the others
// see this host dead, not departed, and that is what an agent restart
// is — the host, its pods and its routes are still there, and the agent
// rejoins under the same name and address within seconds (memberlist
// takes it back: it refutes the death with a higher incarnation). A
// deliberate decommission calls Leave first.
//
// Run waits for joins in flight, at most Timings.TCPTimeout, and may be
// called once.
func (d *Discovery) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("gossip: Run called twice")
	}
	ml, err := memberlist.Create(d.memberlistConfig())
	if err != nil {
		return fmt.Errorf("gossip on %s port %d: %w", d.c.Self.Addr, d.c.BindPort, err)
	}
	d.mu.Lock()
	d.ml = ml
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.ml = nil
		d.mu.Unlock()
		d.t.stop()
		// Shutdown, not Leave: see above.
		if err := ml.Shutdown(); err != nil {
			d.log.Warn("gossip shutdown", "err", err)
		}
	}()
	targets := d.c.Seeds
	for _, a := range d.remembered() {
		if !slices.Contains(targets, a) {
			targets = append(slices.Clip(targets), a)
		}
	}
	d.log.Info("gossip started", "ip", d.c.Self.Addr, "port", ml.LocalNode().Port,
		"encrypted", len(d.c.Keys) > 0, "seeds", d.c.Seeds, "remembered", len(targets)-len(d.c.Seeds))
	if d.c.Remember != "" {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			var last []string
			for {
				changed := d.Changes()
				last = d.remember(ml, last)
				select {
				case <-ctx.Done():
					return
				case <-changed:
				}
			}
		}()
	}
	d.joinLoop(ctx, ml, targets)
	return nil
}

func (d *Discovery) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = d.c.Self.Name
	mc.BindAddr = d.c.Self.Addr.String()
	mc.BindPort = d.c.BindPort
	mc.AdvertiseAddr = mc.BindAddr
	mc.AdvertisePort = d.c.BindPort // 0: memberlist takes the port it bound
	t := d.c.Timings
	mc.ProbeInterval, mc.ProbeTimeout = t.ProbeInterval, t.ProbeTimeout
	mc.SuspicionMult, mc.SuspicionMaxTimeoutMult = t.SuspicionMult, t.SuspicionMaxTimeoutMult
	mc.GossipInterval, mc.PushPullInterval, mc.TCPTimeout = t.GossipInterval, t.PushPullInterval, t.TCPTimeout
	// No LZW: memberlist compresses every packet it sends (probes and
	// acks too) with a fresh 64 KiB table, ~3 % of an agent's CPU through a
	// 50-host fleet's start, to save a few bytes of messages that fit a
	// datagram anyway. Receivers read both forms, so mixed versions agree.
	mc.EnableCompression = false
	if len(d.c.Keys) > 0 {
		// Cannot fail: New checked the keys.
		mc.Keyring, _ = memberlist.NewKeyring(d.c.Keys, d.c.Keys[0])
	}
	mc.Logger = newMemberlistLogger(d.log)
	mc.Delegate = metaDelegate{d}
	mc.Events, mc.Alive, mc.Conflict = d.t, d.t, d.t
	return mc
}

// joinLoop joins the seeds until ctx ends: with backoff while this host
// knows no other member, then every RejoinInterval. targets are the seeds
// and the members remembered from the last run. Every second it also
// joins members declared dead and members back from the dead (see
// reconnector), and it returns once those joins are done (at most
// Timings.TCPTimeout).
func (d *Discovery) joinLoop(ctx context.Context, ml *memberlist.Memberlist, targets []string) {
	forget := time.NewTicker(min(max(d.c.ForgetAfter/4, time.Second), time.Minute))
	defer forget.Stop()
	reconnect := time.NewTicker(reconnectInterval)
	defer reconnect.Stop()
	var r reconnector
	defer r.wait()
	next := time.NewTimer(0)
	defer next.Stop()
	backoff, found := minJoinRetry, false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-forget.C:
			d.t.forget(now)
			continue
		case <-reconnect.C:
			if !d.leaving.Load() {
				r.join(ml, d.t.reconnectTargets(), d.log)
			}
			continue
		case <-next.C:
		}
		if len(targets) == 0 || d.leaving.Load() {
			continue // the first member (the others join us), or leaving
		}
		err := d.join(ml, targets)
		// The seeds usually include this host itself, which answers: only
		// another member means we found the cluster.
		if n := ml.NumMembers(); n > 1 {
			if !found {
				d.log.Info("joined the cluster", "members", n)
			}
			if err != nil {
				d.log.Debug("some seeds did not answer", "err", err)
			}
			found, backoff = true, minJoinRetry
			next.Reset(d.c.RejoinInterval)
			continue
		}
		found = false
		args := []any{"seeds", targets, "in", backoff}
		if err != nil {
			args = append(args, "err", err)
		}
		d.log.Warn("no other member found: serving alone, retrying", args...)
		next.Reset(backoff)
		backoff = min(2*backoff, d.c.RejoinInterval)
	}
}

// join contacts every address at once, so that one that does not answer
// costs one TCPTimeout, not one each.
func (d *Discovery) join(ml *memberlist.Memberlist, addrs []string) error {
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, s := range addrs {
		wg.Go(func() {
			if _, err := ml.Join([]string{s}); err != nil {
				errs[i] = fmt.Errorf("%s: %w", s, flatten(err))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// flatten makes memberlist's multierror one line: its text is a bulleted
// list, unreadable in a log line.
func flatten(err error) error {
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		return errors.Join(multi.WrappedErrors()...)
	}
	return err
}

// Leave announces a deliberate departure (decommission): the others mark
// this host Left, not Dead, and drop it as a peer at once. It waits until
// the news went out or ctx's deadline passes (5 s without one). Gossip goes on
// until Run's ctx ends; a restarting agent must not call it (see Run).
func (d *Discovery) Leave(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ml == nil {
		return fmt.Errorf("leave: %w", errNotRunning)
	}
	timeout := leaveTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 { // memberlist would wait forever
		return fmt.Errorf("leave: %w", context.DeadlineExceeded)
	}
	// Memberlist cannot tell the others why we are gone: its Node.State
	// stays "alive" in every event. So we first say it in our metadata.
	d.leaving.Store(true)
	if err := d.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("leave: announce: %w", err)
	}
	// Gossip may miss a member: memberlist stops retransmitting after a
	// few sends, those to members already dead included, so one member in
	// twenty (TestPeers) missed the announcement, then saw us dead instead
	// of departed and kept us as its peer. A push/pull with every member
	// over TCP delivers it for sure before we leave.
	if err := d.join(d.ml, d.t.aliveAddrs()); err != nil {
		d.log.Warn("leave: some members did not take the announcement", "err", err)
	}
	if err := d.ml.Leave(timeout); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}

// Members returns every member seen and not yet forgotten, this host
// included, sorted by name; refused ones are not members.
func (d *Discovery) Members() []Member { return d.t.snapshot() }

// Changes returns a channel closed at the next change of Members. Take it
// before reading Members, and no change is missed:
//
//	for {
//		ch := d.Changes()
//		use(d.Members())
//		select { case <-ch: case <-ctx.Done(): return }
//	}
//
// Level triggered: several changes may close one channel. Memberlist's
// goroutines never wait for a reader.
func (d *Discovery) Changes() <-chan struct{} { return d.t.changes() }

// Stats returns the refusals counted so far.
func (d *Discovery) Stats() Stats { return d.t.statsNow() }

// Addr is the gossip address once Run has bound it (the port that
// BindPort 0 chose), invalid otherwise.
func (d *Discovery) Addr() netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ml == nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(d.c.Self.Addr, d.ml.LocalNode().Port)
}

// metaDelegate is memberlist's Delegate: only NodeMeta is used; vxbgp
// sends no messages of its own over gossip.
type metaDelegate struct{ d *Discovery }

func (m metaDelegate) NodeMeta(limit int) []byte {
	// New checked that the leaving form fits: memberlist would panic
	// if it did not.
	return m.d.c.Self.encode(m.d.leaving.Load())
}
func (metaDelegate) NotifyMsg([]byte)                {}
func (metaDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (metaDelegate) LocalState(bool) []byte          { return nil }
func (metaDelegate) MergeRemoteState([]byte, bool)   {}
