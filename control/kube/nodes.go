package kube

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// nodes is a Node informer: a cache of every Node, kept by a list and a
// watch, that says when anything in it changed. Readers recompute from
// the cache (level triggered): which event it was does not matter.
type nodes struct {
	inf cache.SharedIndexInformer

	mu      sync.Mutex
	changed chan struct{} // closed on the next change
	lastErr error         // the last list/watch failure, for readyz
}

// newNodes makes the informer; nothing runs until run.
func newNodes(client Client) (*nodes, error) {
	n := &nodes{changed: make(chan struct{})}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.Watch(ctx, o)
		},
	}
	// No periodic resync: the watch delivers every change, and a resync
	// would only replay the cache.
	// The real API server streams the first list as watch events
	// (WatchList); a client that says it cannot (the fake clientset) is
	// listed the old way.
	n.inf = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), &corev1.Node{}, 0, cache.Indexers{})
	if err := n.inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		n.mu.Lock()
		n.lastErr = err
		n.mu.Unlock()
		n.notify()
	}); err != nil {
		return nil, err
	}
	kick := func(any) { n.notify() }
	_, err := n.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    kick,
		UpdateFunc: func(_, obj any) { kick(obj) },
		DeleteFunc: kick,
	})
	return n, err
}

// run runs the informer until ctx ends.
func (n *nodes) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	// The first list of an empty cluster adds nothing: say it came.
	wg.Go(func() {
		if cache.WaitForCacheSync(ctx.Done(), n.inf.HasSynced) {
			n.notify()
		}
	})
	n.inf.RunWithContext(ctx)
}

func (n *nodes) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.changed)
	n.changed = make(chan struct{})
}

// changes is closed on the next change of the cache (or list error):
// take it before reading the cache, so no change goes unseen.
func (n *nodes) changes() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// synced reports whether the first list is in the cache.
func (n *nodes) synced() bool { return n.inf.HasSynced() }

// failure is why the cache is not synced, when the API server said so.
func (n *nodes) failure() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastErr
}

// get returns the named Node from the cache, nil when there is none.
func (n *nodes) get(name string) *corev1.Node {
	obj, ok, err := n.inf.GetStore().GetByKey(name) // Nodes are cluster-scoped: the key is the name
	if err != nil || !ok {
		return nil
	}
	node, _ := obj.(*corev1.Node)
	return node
}

// list returns every Node in the cache.
func (n *nodes) list() []*corev1.Node {
	var out []*corev1.Node
	for _, obj := range n.inf.GetStore().List() {
		if node, ok := obj.(*corev1.Node); ok {
			out = append(out, node)
		}
	}
	return out
}

// notSynced is the readiness reason while the first list is missing.
func (n *nodes) notSynced() string {
	if err := n.failure(); err != nil {
		return fmt.Sprintf("no Node list from the API server yet: %v", err)
	}
	return "no Node list from the API server yet"
}
