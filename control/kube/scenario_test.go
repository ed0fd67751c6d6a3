package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/control/peer"
)

// The scenarios run on any API: the fake clientset (fake_test.go) and a
// real kube-apiserver with etcd (real_test.go). Each uses node names of
// its own, so they may share one API server.

// cluster is what a test does to Nodes, as the kubelet and the
// controller-manager would.
type cluster struct {
	t      *testing.T
	client kubernetes.Interface // the kubelet's and controller-manager's
	source Client               // the agent's
}

func (c cluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c.t.Cleanup(cancel)
	return ctx
}

// add registers a Node (the kubelet does, with its addresses).
func (c cluster) add(name, ip string, cidrs ...string) {
	c.t.Helper()
	var ips []string
	if ip != "" {
		ips = []string{ip}
	}
	if _, err := c.client.CoreV1().Nodes().Create(c.ctx(), testNode(name, ips, cidrs...), metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("create node %s: %v", name, err)
	}
	c.t.Cleanup(func() { _ = c.client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// assignCIDRs sets spec.podCIDRs (the controller-manager does, once).
func (c cluster) assignCIDRs(name string, cidrs ...string) {
	c.t.Helper()
	c.update(name, func(n *corev1.Node) { n.Spec.PodCIDRs, n.Spec.PodCIDR = cidrs, cidrs[0] }, false)
}

// setIP replaces the Node's InternalIP (the kubelet, in status).
func (c cluster) setIP(name, ip string) {
	c.t.Helper()
	c.update(name, func(n *corev1.Node) {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}, true)
}

func (c cluster) update(name string, edit func(*corev1.Node), status bool) {
	c.t.Helper()
	nodes := c.client.CoreV1().Nodes()
	n, err := nodes.Get(c.ctx(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatalf("get node %s: %v", name, err)
	}
	edit(n)
	if status {
		_, err = nodes.UpdateStatus(c.ctx(), n, metav1.UpdateOptions{})
	} else {
		_, err = nodes.Update(c.ctx(), n, metav1.UpdateOptions{})
	}
	if err != nil {
		c.t.Fatalf("update node %s: %v", name, err)
	}
}

func (c cluster) remove(name string) {
	c.t.Helper()
	if err := c.client.CoreV1().Nodes().Delete(c.ctx(), name, metav1.DeleteOptions{}); err != nil {
		c.t.Fatalf("delete node %s: %v", name, err)
	}
}

// logBuffer is a logger that keeps what it wrote, and shows it in the
// test's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) logger(t *testing.T) *slog.Logger {
	w := io.MultiWriter(l, tWriter{t})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// get fetches url: the status code and body ("" and 0 when nothing
// answers).
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// scenarioWaitForPodCIDR: a Node without podCIDR makes Start wait, not
// ready and saying why (log and /readyz; /healthz ok); once the
// controller-manager assigns one, Start completes the config, frees the
// health port for the agent and returns.
func scenarioWaitForPodCIDR(t *testing.T, c cluster, name string) {
	c.add(name, "192.0.2.10")
	cfg := kubeConfig(t, name)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", bgptest.FreePort(t, "127.0.0.1"))
	var logs logBuffer
	type result struct {
		k   *Kube
		err error
	}
	done := make(chan result, 1)
	go func() {
		k, err := Start(context.Background(), cfg, logs.logger(t), Options{Client: c.source})
		done <- result{k, err}
	}()
	base := "http://" + cfg.Metrics.Listen
	want := fmt.Sprintf("not ready: node %s has no spec.podCIDRs yet", name)
	bgptest.WaitFor(t, "/readyz saying why", 30*time.Second, func() bool {
		code, body := get(base + "/readyz")
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, want)
	})
	if code, body := get(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while waiting: %d %q, want 200", code, body)
	}
	if l := logs.String(); !strings.Contains(l, "waiting for the Node") || !strings.Contains(l, "node "+name+" has no spec.podCIDRs yet") {
		t.Errorf("log does not say what it waits for:\n%s", l)
	}
	select {
	case r := <-done:
		t.Fatalf("Start returned before the podCIDR: %v %v", r.k, r.err)
	case <-time.After(200 * time.Millisecond):
	}

	c.assignCIDRs(name, "10.244.7.0/24")
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Start still waits after the podCIDR was assigned")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.k.Close()
	if cfg.Networks[0].Block != "10.244.7.0/24" || cfg.Underlay.Address != "192.0.2.10" {
		t.Errorf("config: block %q underlay %q, want 10.244.7.0/24 192.0.2.10", cfg.Networks[0].Block, cfg.Underlay.Address)
	}
	// The agent's own listener takes the port next.
	l, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		t.Fatalf("the health port is still held after Start: %v", err)
	}
	l.Close()
}

// scenarioPeers: the peers follow the Nodes: added, removed, InternalIP
// changed; this host's own InternalIP changing ends the source with an
// error (the agent restarts on the new address).
func scenarioPeers(t *testing.T, c cluster, prefix string) {
	self, b, cc, d := prefix+"-self", prefix+"-b", prefix+"-c", prefix+"-d"
	c.add(self, "192.0.2.1", "10.244.1.0/24")
	c.add(b, "192.0.2.2", "10.244.2.0/24")
	c.add(cc, "192.0.2.3") // no podCIDR yet: a peer all the same
	cfg := kubeConfig(t, self)
	k, err := Start(context.Background(), cfg, bgptest.Logger(t), Options{Client: c.source})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	srcs := k.PeerSources()
	if len(srcs) != 1 || srcs[0].Name() != "kubernetes" {
		t.Fatalf("peer sources %v, want one named kubernetes", srcs)
	}
	var mu sync.Mutex
	var latest []peer.Peer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- srcs[0].Run(ctx, func(ps []peer.Peer) { mu.Lock(); latest = ps; mu.Unlock() })
	}()
	// Other prefixes' nodes share a real API server: only ours count.
	wantPeers := func(what string, want ...string) {
		t.Helper()
		var got string
		bgptest.WaitFor(t, what, 30*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			var s []string
			for _, p := range latest {
				if strings.HasPrefix(p.Name, prefix+"-") {
					s = append(s, fmt.Sprintf("%s=%s/%d", p.Name, p.Address, p.ASN))
				}
			}
			got = strings.Join(s, " ")
			return got == strings.Join(want, " ")
		})
	}
	wantPeers("the first peers", b+"=192.0.2.2/64512", cc+"=192.0.2.3/64512")
	c.add(d, "192.0.2.4")
	wantPeers("the added node's peer", b+"=192.0.2.2/64512", cc+"=192.0.2.3/64512", d+"=192.0.2.4/64512")
	c.remove(b)
	wantPeers("the removed node's peer gone", cc+"=192.0.2.3/64512", d+"=192.0.2.4/64512")
	c.setIP(cc, "192.0.2.33")
	wantPeers("the changed InternalIP", cc+"=192.0.2.33/64512", d+"=192.0.2.4/64512")

	c.setIP(self, "192.0.2.100")
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "InternalIP changed from 192.0.2.1 to 192.0.2.100") {
			t.Errorf("source ended with %v, want the InternalIP change", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the source did not end when this host's InternalIP changed")
	}
}

// scenarioMisfit: a podCIDR outside the networks is an error naming the
// key, at once (podCIDRs never change: waiting would not help).
func scenarioMisfit(t *testing.T, c cluster, name string) {
	c.add(name, "192.0.2.1", "10.99.1.0/24")
	cfg := kubeConfig(t, name)
	k, err := Start(context.Background(), cfg, bgptest.Logger(t), Options{Client: c.source})
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Path != "networks" || !strings.Contains(err.Error(), "podCIDR 10.99.1.0/24 is inside no network's subnet") {
		t.Errorf("Start = %v, %v; want a networks error", k, err)
	}
	if cfg.Networks[0].Block != "" {
		t.Errorf("block %q installed", cfg.Networks[0].Block)
	}
}

// scenarioCancel: ending ctx while waiting returns nil, nil.
func scenarioCancel(t *testing.T, c cluster, name string) {
	cfg := kubeConfig(t, name) // no such Node at all
	ctx, cancel := context.WithCancel(context.Background())
	var logs logBuffer
	done := make(chan error, 1)
	go func() {
		k, err := Start(ctx, cfg, logs.logger(t), Options{Client: c.source})
		if k != nil {
			err = errors.New("a *Kube returned")
		}
		done <- err
	}()
	bgptest.WaitFor(t, "the wait for a missing Node", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "node "+name+" not found")
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start after ctx ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return when ctx ended")
	}
}

// scenarios are every scenario, each on its own nodes: client changes
// Nodes, source is what Start reads them with.
func scenarios(t *testing.T, client kubernetes.Interface, source Client) {
	for _, s := range []struct {
		name string
		run  func(*testing.T, cluster, string)
	}{
		{"wait for the podCIDR", scenarioWaitForPodCIDR},
		{"peers follow the Nodes", scenarioPeers},
		{"podCIDR outside the networks", scenarioMisfit},
		{"ctx ends while waiting", scenarioCancel},
	} {
		t.Run(s.name, func(t *testing.T) {
			s.run(t, cluster{t: t, client: client, source: source}, fmt.Sprintf("n%d", time.Now().UnixNano()%1e9))
		})
	}
}
