package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/metrics"
	"github.com/vxbgp/vxbgp/control/peer"
)

// Options are what tests replace.
type Options struct {
	// Client is the API client; nil: NewClient(cfg.Kubernetes).
	Client Client
}

// Kube is the running Node informer of an agent with kubernetes.enabled.
// A nil *Kube (kubernetes.enabled false) has no peer sources and closes
// as a no-op.
type Kube struct {
	nodes *nodes
	log   *slog.Logger
	self  string
	asn   uint32
	// underlay is this host's address: peers are the other Nodes'
	// InternalIPs of its family. fromNode: it is the Node's InternalIP,
	// and a change of that is fatal (see checkSelf).
	underlay netip.Addr
	fromNode bool

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Start runs the Node informer and completes cfg from this host's Node
// (cfg.NodeName): the networks' blocks from spec.podCIDRs, an empty
// underlay.address from its InternalIP (see PlanFor). Until the Node has
// what is needed it waits, saying why in the log and on /readyz (served
// on metrics.listen meanwhile, with /healthz ok); it returns once cfg is
// complete, and the informer keeps running for the peer source until
// Close or ctx ends. It returns nil, nil without kubernetes.enabled, and
// also when ctx ends while waiting (the caller checks ctx). An error is a
// Node that cannot fit the config (a *config.FieldError), or a failure to
// make the client or to serve the health endpoints.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger, o Options) (*Kube, error) {
	if !cfg.Kubernetes.Enabled {
		return nil, nil
	}
	log = log.With("component", "kubernetes", "node", cfg.NodeName)
	client := o.Client
	if client == nil {
		var err error
		if client, err = NewClient(cfg.Kubernetes); err != nil {
			return nil, err
		}
	}
	n, err := newNodes(client)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: node informer: %w", err)
	}
	k := &Kube{nodes: n, log: log, self: cfg.NodeName, asn: cfg.BGP.ASN}
	ictx, cancel := context.WithCancel(ctx)
	k.cancel = cancel
	k.done.Go(func() { n.run(ictx) })
	plan, err := k.wait(ctx, cfg)
	if err != nil || ctx.Err() != nil {
		k.Close()
		return nil, err
	}
	for _, c := range plan.Ignored {
		log.Warn("podCIDR of a family no network has: not installed", "prefix", c)
	}
	plan.Apply(cfg)
	k.underlay, k.fromNode = cfg.UnderlayAddr(), plan.Underlay.IsValid()
	log.Info("config completed from the Node", "underlay", cfg.Underlay.Address, "fromNode", k.fromNode, "blocks", plan.blocks())
	return k, nil
}

// wait waits until this host's Node fits the config, serving /healthz and
// /readyz (not ready, and why) meanwhile.
func (k *Kube) wait(ctx context.Context, cfg *config.Config) (Plan, error) {
	var reason atomic.Value
	reason.Store("starting")
	serveErr := make(chan error, 1)
	hctx, stopHealth := context.WithCancel(ctx)
	var health sync.WaitGroup
	defer func() {
		stopHealth()
		health.Wait() // the port is free for the agent's own listener
	}()
	if cfg.Metrics.Listen != "" {
		health.Go(func() {
			serveErr <- metrics.Serve(hctx, cfg.Metrics.Listen, metrics.NewRegistry(), func() error {
				return errors.New(reason.Load().(string))
			}, nil)
		})
	}
	said := ""
	for {
		changed := k.nodes.changes()
		plan, err := k.plan(cfg)
		var w *WaitError
		if !errors.As(err, &w) {
			return plan, err
		}
		reason.Store(w.Reason)
		// The first list's usual moment of delay is not worth a line.
		quiet := !k.nodes.synced() && k.nodes.failure() == nil
		if w.Reason != said && !quiet {
			k.log.Warn("waiting for the Node before starting", "reason", w.Reason)
			said = w.Reason
		}
		select {
		case <-ctx.Done():
			return plan, nil
		case err := <-serveErr:
			if err != nil {
				return plan, fmt.Errorf("metrics: %w", err)
			}
		case <-changed:
		}
	}
}

// plan is PlanFor this host's Node in the cache, or a *WaitError.
func (k *Kube) plan(cfg *config.Config) (Plan, error) {
	if !k.nodes.synced() {
		return Plan{}, &WaitError{Reason: k.nodes.notSynced()}
	}
	node := k.nodes.get(k.self)
	if node == nil {
		return Plan{}, &WaitError{Reason: fmt.Sprintf("node %s not found (nodeName, or the NODE_NAME environment variable, must be this host's Node name)", k.self)}
	}
	return PlanFor(cfg, node)
}

// Close stops the informer and waits for it.
func (k *Kube) Close() {
	if k == nil {
		return
	}
	k.cancel()
	k.done.Wait()
}

// PeerSources is the Nodes' peer source, none on a nil *Kube.
func (k *Kube) PeerSources() []peer.Source {
	if k == nil {
		return nil
	}
	return []peer.Source{peerSource{k}}
}
