package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/vxbgp/vxbgp/internal/kubelab"
	"github.com/vxbgp/vxbgp/internal/lab"
)

// Exec runs argv in a container of a pod (container "" when the pod has
// one) and returns its stdout and stderr, as `kubectl exec POD -- argv`
// does and by the same path: client-go's remotecommand (WebSocket, falling
// back to SPDY, as kubectl 1.30+), the API server's pods/exec, the
// kubelet's streaming server (TLS with a certificate of the cluster CA,
// the API server authenticated by its client certificate) and
// containerd's exec. A command that ran and exited non-zero returns its
// output and an error wrapping k8s.io/client-go/util/exec.CodeExitError.
func (c *Cluster) Exec(ctx context.Context, namespace, pod, container string, argv ...string) (stdout, stderr string, err error) {
	cfg, closeFwd, err := c.LocalConfig()
	if err != nil {
		return "", "", err
	}
	defer closeFwd()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", "", err
	}
	req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdout: true, Stderr: true},
			scheme.ParameterCodec)
	ex, err := executor(cfg, req.URL())
	if err != nil {
		return "", "", err
	}
	var out, errOut bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	if err != nil {
		err = fmt.Errorf("exec %v in pod %s/%s: %w", argv, namespace, pod, err)
	}
	return out.String(), errOut.String(), err
}

// executor is kubectl exec's: WebSocket first, SPDY when the server
// refuses the upgrade.
func executor(cfg *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		return nil, err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// LocalConfig is the admin's client config for clients that dial by
// themselves rather than through rest.Config.Dial (the SPDY and WebSocket
// round trippers of exec, attach and port-forward): it points at a
// loopback port of this process's namespace that forwards each connection
// to the API server in the control plane's namespace. TLS still checks
// the API server's certificate (for its underlay address). The caller
// calls the returned function when done, which stops the forwarder.
func (c *Cluster) LocalConfig() (*rest.Config, func(), error) {
	cfg := c.CP.Config(kubelab.Admin)
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("api forwarder: %w", err)
	}
	dial := cfg.Dial // from the control plane's namespace
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	f := &forwarder{l: l, target: u.Host, dial: dial, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.serve()
	cfg.Host = "https://" + l.Addr().String()
	cfg.Dial = nil
	cfg.TLSClientConfig.ServerName = u.Hostname()
	return cfg, f.close, nil
}

// forwarder copies connections accepted on l to target, dialled with
// dial.
type forwarder struct {
	l      net.Listener
	target string
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		in, err := f.l.Accept()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := f.dial(ctx, "tcp", f.target)
		cancel()
		if err != nil || !f.track(in, out) {
			in.Close()
			if out != nil {
				out.Close()
			}
			continue
		}
		f.wg.Add(2)
		go f.pipe(in, out)
		go f.pipe(out, in)
	}
}

// track records a pair of connections for close, unless closed already.
func (f *forwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for _, c := range cs {
		f.conns[c] = true
	}
	return true
}

// pipe copies src to dst, then closes both: either side ending ends the
// pair.
func (f *forwarder) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// close stops accepting, closes every connection and waits for the
// copying goroutines.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	// Errors here are connections the other side closed first: no failure.
	_ = f.l.Close()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// ExecPingMatrix pings every ordered pair of ws from inside the pods:
// one Exec per sender (PodBinary ping with every other address; each gets
// a request, and a second if the first is lost), a few at a time. It is
// the Service-less `kubectl exec` ping matrix; Took is its wall time.
func (c *Cluster) ExecPingMatrix(ctx context.Context, ws []Workload) *lab.Matrix {
	eps := make([]lab.Endpoint, len(ws))
	for i, w := range ws {
		eps[i] = w
	}
	m := &lab.Matrix{Endpoints: eps, OK: map[[2]int]bool{}, Errs: map[[2]int]error{}}
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3) // 2 cores; each exec pings all at once
	for i, from := range ws {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			argv := []string{PodBinary, "ping"}
			for j, to := range ws {
				if j != i {
					argv = append(argv, to.IP)
				}
			}
			out, stderr, err := c.Exec(ctx, "default", from.Name, "", argv...)
			var exit utilexec.ExitError
			if errors.As(err, &exit) && exit.ExitStatus() == 1 {
				err = nil // some pings failed: the lines say which
			}
			got := parsePings(out)
			mu.Lock()
			defer mu.Unlock()
			for j, to := range ws {
				if j == i {
					continue
				}
				k := [2]int{i, j}
				res, ok := got[to.IP]
				switch {
				case err != nil:
					m.OK[k], m.Errs[k] = false, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr))
				case !ok:
					m.OK[k], m.Errs[k] = false, fmt.Errorf("no result for %s in %q", to.IP, out)
				case res != "ok":
					m.OK[k], m.Errs[k] = false, errors.New(res)
				default:
					m.OK[k] = true
				}
			}
		}()
	}
	wg.Wait()
	m.Took = time.Since(start)
	return m
}

// parsePings reads kubelab-pod ping's lines: "IP ok" or "IP fail: why".
func parsePings(out string) map[string]string {
	res := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if ip, r, ok := strings.Cut(l, " "); ok {
			res[ip] = r
		}
	}
	return res
}
