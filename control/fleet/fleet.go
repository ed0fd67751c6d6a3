// Package fleet is this host's part in a fleet that finds itself by gossip
// (discovery.join set): it runs discovery (control/members), offers the
// discovered hosts as a peer source (control/peer), and masks the hosts
// discovery declares dead once the death is confirmed (control/mask), by
// handing their addresses to the desired state. It is the wiring between
// those three; each holds its own logic.
package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/localapi"
	"github.com/vxbgp/vxbgp/control/mask"
	"github.com/vxbgp/vxbgp/control/members"
	"github.com/vxbgp/vxbgp/control/peer"
)

// Config configures a Fleet.
type Config struct {
	Discovery config.Discovery
	Self      members.Meta
	// ProbePort is where a dead member's host is knocked at to confirm
	// its death: this host's BGP port (one config serves the fleet).
	ProbePort uint16
	// Probe replaces the TCP probe of ProbePort (tests).
	Probe func(ctx context.Context, addr netip.Addr) bool
	// Mask receives the addresses of the hosts to keep out of the data
	// path (desired.Merger.SetMasked).
	Mask func(map[netip.Addr]bool)
	// Remember is where the members last seen alive are kept, so that a
	// restarting host (a seed in particular) finds them again at once.
	Remember string
	Logger   *slog.Logger
}

// Fleet is discovery and masking together. The zero value is not usable;
// call New.
type Fleet struct {
	disc *members.Discovery
	mask *mask.Masker
	self string
}

// New checks the configuration (the key file is read here: a bad one
// stops the agent at start, naming discovery.secretKeyFile) and builds
// the parts; nothing runs until Run.
func New(c Config) (*Fleet, error) {
	var keys [][]byte
	if c.Discovery.SecretKeyFile != "" {
		var err error
		if keys, err = members.LoadKeys(c.Discovery.SecretKeyFile); err != nil {
			return nil, fmt.Errorf("discovery.secretKeyFile: %w", err)
		}
	}
	d, err := members.New(members.Config{
		Self:     c.Self,
		BindPort: c.Discovery.BindPort,
		Seeds:    c.Discovery.Join,
		Keys:     keys,
		Timings: members.Timings{
			ProbeInterval: c.Discovery.ProbeInterval,
			ProbeTimeout:  c.Discovery.ProbeTimeout,
			SuspicionMult: c.Discovery.SuspicionMult,
		},
		RejoinInterval: c.Discovery.RejoinInterval,
		Remember:       c.Remember,
		Logger:         c.Logger.With("component", "members"),
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	port, probe := c.ProbePort, c.Probe
	if probe == nil {
		probe = func(ctx context.Context, a netip.Addr) bool {
			return mask.TCPProbe(ctx, netip.AddrPortFrom(a, port))
		}
	}
	m := mask.New(mask.Config{
		Probe:   probe,
		Publish: c.Mask,
		Logger:  c.Logger.With("component", "mask"),
	})
	return &Fleet{disc: d, mask: m, self: c.Self.Name}, nil
}

// Run runs discovery and masking until ctx ends.
func (f *Fleet) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.disc.Run(ctx) })
	g.Go(func() error { return f.mask.Run(ctx) })
	g.Go(func() error {
		for {
			changed := f.disc.Changes()
			f.mask.SetMembers(f.maskMembers())
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
			}
		}
	})
	return g.Wait()
}

// maskMembers is the member table as the masker wants it, this host
// included (it counts for the isolation rule, and is always alive).
func (f *Fleet) maskMembers() []mask.Member {
	var out []mask.Member
	for _, m := range f.disc.Members() {
		if m.State != members.Left {
			out = append(out, mask.Member{Name: m.Name, Addr: m.Addr, Alive: m.State == members.Alive})
		}
	}
	return out
}

// Handler feeds the masker the BGP sessions and End-of-RIB markers: a
// masked host is unmasked once its routes are current again (its session
// never broke, or a new one sent its table).
func (f *Fleet) Handler() bgp.Handler { return f.mask.Handler() }

// Peers is the peer source of the discovered hosts.
func (f *Fleet) Peers() peer.Source { return f.disc.Peers() }

// Members lists the members for `vxbgpctl members`.
func (f *Fleet) Members() []localapi.Member {
	masked := f.mask.Masked()
	now := time.Now()
	var out []localapi.Member
	for _, m := range f.disc.Members() {
		lm := localapi.Member{
			NodeName: m.Name, Address: m.Addr.String(), ASN: m.ASN, Mode: m.Mode, State: m.State.String(),
			SinceSeconds: int64(now.Sub(m.Since).Seconds()), Self: m.Name == f.self, Reflector: m.Reflector,
		}
		_, lm.Masked = masked[m.Addr]
		for _, b := range m.Blocks {
			lm.Blocks = append(lm.Blocks, b.String())
		}
		out = append(out, lm)
	}
	return out
}
