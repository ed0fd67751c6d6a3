package kubelab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure Start. The zero value is a control plane on loopback
// in a new temporary directory.
type Options struct {
	// Bin is the directory holding kube-apiserver (Build's answer).
	Bin string
	// Etcd is the etcd binary; "" looks it up in PATH.
	Etcd string
	// Dir is the work directory (certificates, etcd data, logs); "": a
	// new temporary directory, removed by Stop.
	Dir string
	// Address is where etcd and the API server listen and what the API
	// server advertises; default 127.0.0.1. Ports are picked free.
	Address string
	// Users are static-token users besides Admin (e.g. a service
	// account's identity, "system:serviceaccount:kube-system:vxbgp", to
	// test RBAC as the agent gets it). Start fills their tokens.
	Users []User
	// ExtraArgs are appended to kube-apiserver's flags.
	ExtraArgs []string
	// Prefix runs each process under a wrapper, e.g. nsenter --net=...
	Prefix []string
	// Netns is a named network namespace (ip netns) to run the control
	// plane in, Address being one of its addresses (a lab namespace on
	// the underlay, reachable from lab hosts). Processes start under
	// nsenter --net (unless Prefix is set), and this process reaches them
	// with sockets made inside it (Config sets rest.Config.Dial).
	Netns string
	// Logf hears about the steps (may be nil).
	Logf func(format string, args ...any)
}

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	URL   string // https://address:port
	Dir   string
	PKI   PKI
	Users []User // Admin first, then Options.Users with their tokens
	Etcd  string // etcd's client URL
	// Logs of the processes, for a failing test to show.
	EtcdLog, APIServerLog string

	removeDir bool
	prefix    []string
	netns     string
	procs     []*exec.Cmd // in start order; stopped in reverse
}

// Start brings up etcd and kube-apiserver and waits until the API server
// answers /readyz. On error whatever started is stopped. Ports are picked
// free and bound by the processes a moment later: if another process took
// one meanwhile, Start tries again with new ports.
func Start(ctx context.Context, o Options) (*ControlPlane, error) {
	for attempt := 1; ; attempt++ {
		cp, err := start(ctx, o)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return cp, err
		}
	}
}

func start(ctx context.Context, o Options) (_ *ControlPlane, err error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Address == "" {
		o.Address = "127.0.0.1"
	}
	if o.Etcd == "" {
		if o.Etcd, err = exec.LookPath("etcd"); err != nil {
			return nil, fmt.Errorf("etcd (Debian's etcd-server): %w", err)
		}
	}
	apiserver := filepath.Join(o.Bin, APIServer)
	if _, err := os.Stat(apiserver); err != nil {
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}
	if o.Netns != "" && o.Prefix == nil {
		o.Prefix = []string{"nsenter", "--net=/run/netns/" + o.Netns}
	}
	cp := &ControlPlane{Dir: o.Dir, prefix: o.Prefix, netns: o.Netns}
	if cp.Dir == "" {
		if cp.Dir, err = os.MkdirTemp("", "kubelab-"); err != nil {
			return nil, err
		}
		cp.removeDir = true
	}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()
	cp.Users = append([]User{{Name: Admin, Groups: []string{"system:masters"}}}, o.Users...)
	var ports []int
	err = inNetns(o.Netns, func() (err error) { ports, err = freePorts(o.Address, 3); return err })
	if err != nil {
		return nil, err
	}
	if cp.PKI, err = writePKI(cp.Dir, []net.IP{net.ParseIP(o.Address)}, cp.Users); err != nil {
		return nil, fmt.Errorf("kubelab pki: %w", err)
	}
	host := net.JoinHostPort(o.Address, "")
	url := func(port int) string { return "http://" + host + strconv.Itoa(port) }
	cp.Etcd, cp.URL = url(ports[0]), "https://"+host+strconv.Itoa(ports[2])
	cp.EtcdLog, cp.APIServerLog = filepath.Join(cp.Dir, "etcd.log"), filepath.Join(cp.Dir, "apiserver.log")

	if err := os.RemoveAll(filepath.Join(cp.Dir, "etcd")); err != nil { // a fresh cluster, also in a given Dir
		return nil, err
	}
	t0 := time.Now()
	if err := cp.spawn(cp.EtcdLog, o.Etcd, "--name", "kubelab", "--data-dir", filepath.Join(cp.Dir, "etcd"),
		"--listen-client-urls", cp.Etcd, "--advertise-client-urls", cp.Etcd,
		"--listen-peer-urls", url(ports[1]), "--initial-advertise-peer-urls", url(ports[1]),
		"--initial-cluster", "kubelab="+url(ports[1]), "--unsafe-no-fsync"); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, plainClient(o.Netns), cp.Etcd+"/health", "", 30*time.Second); err != nil {
		return nil, fmt.Errorf("etcd not healthy: %w\n%s", err, tail(cp.EtcdLog))
	}
	args := []string{
		"--etcd-servers=" + cp.Etcd,
		"--bind-address=" + o.Address, "--secure-port=" + strconv.Itoa(ports[2]), "--advertise-address=" + o.Address,
		"--cert-dir=" + filepath.Join(cp.Dir, "certs"),
		"--tls-cert-file=" + cp.PKI.ServerCert, "--tls-private-key-file=" + cp.PKI.ServerKey,
		"--client-ca-file=" + cp.PKI.CACert, "--token-auth-file=" + cp.PKI.Tokens,
		"--service-account-key-file=" + cp.PKI.SAPub, "--service-account-signing-key-file=" + cp.PKI.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/12", "--authorization-mode=Node,RBAC", "--allow-privileged=true",
		// One API server on loopback: no kubernetes Service endpoints to
		// reconcile, and kubelets are reached by their InternalIP.
		"--endpoint-reconciler-type=none", "--kubelet-preferred-address-types=InternalIP", "--v=1",
		// exec, logs and port-forward: kubelets serve with certificates of
		// the cluster CA (PKI.Issue) and take this client certificate.
		"--kubelet-certificate-authority=" + cp.PKI.CACert,
		"--kubelet-client-certificate=" + cp.PKI.KubeletClientCert, "--kubelet-client-key=" + cp.PKI.KubeletClientKey,
	}
	if err := cp.spawn(cp.APIServerLog, apiserver, append(args, o.ExtraArgs...)...); err != nil {
		return nil, err
	}
	client, err := cp.httpClient()
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, client, cp.URL+"/readyz", cp.Users[0].Token, 90*time.Second); err != nil {
		return nil, fmt.Errorf("kube-apiserver not ready: %w\n%s", err, tail(cp.APIServerLog))
	}
	o.Logf("kubelab: etcd and kube-apiserver ready at %s in %s (%s)", cp.URL, time.Since(t0).Round(time.Millisecond), cp.Dir)
	return cp, nil
}

// Spawn starts another process of the cluster (kube-controller-manager,
// a kubelet, ...) under Options.Prefix, its output in Dir/<logName>.log;
// Stop stops it before the API server. It returns the log's path.
func (cp *ControlPlane) Spawn(logName, binary string, args ...string) (string, error) {
	path := filepath.Join(cp.Dir, logName+".log")
	return path, cp.spawn(path, binary, args...)
}

// spawn starts one process with its output in logPath. It dies with the
// test process (SIGKILL on parent death), so a killed test leaves
// nothing running.
func (cp *ControlPlane) spawn(logPath, name string, args ...string) error {
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close() // the child holds its own descriptor
	argv := append(append(append([]string(nil), cp.prefix...), name), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = cp.Dir, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(name), err)
	}
	cp.procs = append(cp.procs, cmd)
	return nil
}

// Stop stops the processes in reverse start order — what Spawn started,
// the API server, then etcd (the other order makes the API server linger
// for ~25 s) — and removes a temporary directory. It is safe to call more
// than once.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		stop(cp.procs[i])
	}
	cp.procs = nil
	if cp.removeDir {
		_ = os.RemoveAll(cp.Dir)
		cp.removeDir = false
	}
}

// stop ends a process: SIGTERM, then SIGKILL after 10 s.
func stop(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// User returns the named user (Admin or one of Options.Users).
func (cp *ControlPlane) User(name string) (User, bool) {
	for _, u := range cp.Users {
		if u.Name == name {
			return u, true
		}
	}
	return User{}, false
}

// Config is a client config for the named user; it panics on a user the
// control plane does not have (a test's mistake).
func (cp *ControlPlane) Config(user string) *rest.Config {
	u, ok := cp.User(user)
	if !ok {
		panic("kubelab: no user " + user)
	}
	c := &rest.Config{Host: cp.URL, BearerToken: u.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: cp.PKI.CACert},
		QPS: 100, Burst: 200}
	if cp.netns != "" {
		c.Dial = dialer(cp.netns)
	}
	return c
}

// Client is a clientset of the admin.
func (cp *ControlPlane) Client() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cp.Config(Admin))
}

// WriteKubeconfig writes a kubeconfig file for the named user at path, as
// vxbgpd's kubernetes.kubeconfig (or kubectl) reads it.
func (cp *ControlPlane) WriteKubeconfig(path, user string) error {
	u, ok := cp.User(user)
	if !ok {
		return fmt.Errorf("kubelab: no user %s", user)
	}
	c := clientcmdapi.NewConfig()
	c.Clusters["kubelab"] = &clientcmdapi.Cluster{Server: cp.URL, CertificateAuthority: cp.PKI.CACert}
	c.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: u.Token}
	c.Contexts["kubelab"] = &clientcmdapi.Context{Cluster: "kubelab", AuthInfo: user}
	c.CurrentContext = "kubelab"
	return clientcmd.WriteToFile(*c, path)
}

func (cp *ControlPlane) httpClient() (*http.Client, error) {
	pem, err := os.ReadFile(cp.PKI.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dialer(cp.netns)}}, nil
}

// waitHTTP polls url until it answers 200 or timeout passes.
func waitHTTP(ctx context.Context, c *http.Client, url, token string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := c.Do(req); err != nil {
			last = err
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s: %s", url, resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %v (%w)", timeout, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts finds n ports free on addr. Another process may take one
// before we bind it; the start then fails with the port named in the log.
func freePorts(addr string, n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return nil, fmt.Errorf("free port on %s: %w", addr, err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	return lastLines(string(data), 30)
}

// SpawnControllerManager starts kube-controller-manager (from bin, Build's
// directory) as the admin, on loopback, without leader election, with
// args added, e.g. "--controllers=nodeipam", "--allocate-node-cidrs=true",
// "--cluster-cidr=10.244.0.0/16", "--node-cidr-mask-size=24" to assign
// podCIDRs (a new Node gets its own in well under a second).
func (cp *ControlPlane) SpawnControllerManager(bin string, args ...string) error {
	kc := filepath.Join(cp.Dir, "controller-manager.kubeconfig")
	if err := cp.WriteKubeconfig(kc, Admin); err != nil {
		return err
	}
	_, err := cp.Spawn("controller-manager", filepath.Join(bin, ControllerManager), append([]string{
		"--kubeconfig=" + kc, "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
		"--service-account-private-key-file=" + cp.PKI.SAKey, "--root-ca-file=" + cp.PKI.CACert,
	}, args...)...)
	return err
}
