package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vxbgp/vxbgp/internal/caps"
	"github.com/vxbgp/vxbgp/internal/lab"
	"github.com/vxbgp/vxbgp/internal/nstest"
)

// Least privilege: vxbgpd runs with exactly the privileges the
// DaemonSet or the systemd unit grants, read from the files themselves so
// that the tests and the manifests cannot drift apart, through
// e2e/cmd/vxbgp-caps: the capability bounding set (root then gets
// effective = permitted = bounding, as in a container), no_new_privs, and
// the read-only mounts (a container's /proc/sys, readOnlyRootFilesystem,
// ProtectSystem=). It must become ready with a pod attached, and pods on
// two hosts must reach each other.

// privileges is how the launcher runs vxbgpd: its capabilities, its
// no_new_privs and its mount operations (launcher flags, in order).
type privileges struct {
	caps   caps.Set
	nnp    bool
	mounts func(h *lab.Host) []string
	// procSysRO: the agent's /proc/sys must be mounted read-only.
	procSysRO bool
	// seccomp are the launcher's seccomp flags (sandbox_test.go).
	seccomp []string
	// notify: Type=notify; the agent gets a notify socket and a watchdog.
	notify bool
}

func (p privileges) argv(launcher string, h *lab.Host) []string {
	argv := []string{launcher, "-caps", strings.Join(p.caps.Names(), ",")}
	if p.nnp {
		argv = append(argv, "-nnp")
	}
	if p.mounts != nil {
		argv = append(argv, p.mounts(h)...)
	}
	argv = append(argv, p.seccomp...)
	return append(argv, "--")
}

// runtimeReadonly are the paths containerd's CRI makes read-only in an
// unprivileged container (oci.populateDefaultUnixSpec's ReadonlyPaths);
// /sys is mounted read-only too.
var runtimeReadonly = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// k8sContainer is the part of a DaemonSet's container the test reads.
type k8sContainer struct {
	Name            string `yaml:"name"`
	SecurityContext struct {
		Privileged               *bool `yaml:"privileged"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

// buildLauncher builds e2e/cmd/vxbgp-caps into a directory of the test.
func buildLauncher(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	must(t, err)
	out := filepath.Join(t.TempDir(), "vxbgp-caps")
	cmd := exec.Command("go", "build", "-o", out, "./e2e/cmd/vxbgp-caps")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build vxbgp-caps: %v: %s", err, b)
	}
	// The lab's namespaces run it as root; t.TempDir is 0700 for root
	// already, which is all it needs.
	return out
}

// runWithPrivileges builds a 2-host lab in mode (dual-stack if dual)
// whose agents run with p, checks each agent's capability sets and
// /proc/sys mount, attaches a pod on each host through vxbgp-cni, waits
// until both hosts are ready and the pods ping each other (over IPv6 too
// if dual). Where p leaves /proc/sys read-only the hosts forward
// beforehand, as README "Privileges" asks of such a node; elsewhere they
// do not, and routed mode's agent must turn forwarding on itself.
func runWithPrivileges(t *testing.T, mode string, dual bool, p privileges) {
	nstest.Require(t)
	requireBinaries(t)
	ctx := testCtx(t, 3*time.Minute)
	launcher := buildLauncher(t)
	notify := newNotifySockets(t)
	l := newLab(t, ctx, lab.Options{
		Hosts:     2,
		Mode:      mode,
		DualStack: dual,
		NoStart:   true,
		AgentWrap: func(h *lab.Host) []string {
			argv := p.argv(launcher, h)
			if !p.notify {
				return argv
			}
			env := []string{"-setenv", "NOTIFY_SOCKET=" + filepath.Join(notify.dir, h.Name), "-setenv", "WATCHDOG_USEC=2000000"}
			return append(argv[:len(argv)-1], append(env, "--")...)
		},
	})
	if p.notify {
		for _, h := range l.Hosts {
			notify.listen(t, h.Name)
		}
	}
	// The host-wide forwarding switches: set by the node where /proc/sys
	// is read-only to the agent, else off, for the agent to turn on
	// itself (checked below).
	agentSets := mode == modeRouted && !p.procSysRO
	for _, h := range l.Hosts {
		switch {
		case agentSets:
			_, err := lab.Exec(ctx, h.NS, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0")
			must(t, err)
		case dual:
			_, err := lab.Exec(ctx, h.NS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
			must(t, err)
		}
	}
	must(t, l.StartAll(ctx))
	for _, h := range l.Hosts {
		checkAgentPrivileges(t, h, p)
	}
	pods := addPods(t, ctx, l, 1)
	if mode == modeRouted {
		convergeRouted(t, ctx, l)
	} else {
		converge(t, ctx, l)
	}
	for _, h := range l.Hosts {
		if err := lab.Eventually(ctx, h.Name+" readyz", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			code, body, err := readyz(ctx, h.NS)
			if err != nil {
				return false, err
			}
			return code == http.StatusOK, fmt.Errorf("readyz %d: %s", code, body)
		}); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if p.notify {
			notify.checkNotified(t, h.Name)
		}
		st, err := h.Status(ctx)
		must(t, err)
		if st.Endpoints != 1 || !st.Synced {
			t.Errorf("%s: vxbgpctl status: %d endpoints, synced %v; want the pod and synced", h.Name, st.Endpoints, st.Synced)
		}
	}
	pingEveryPair(t, ctx, lab.PodEndpoints(pods), 2, mode+" with least privilege")
	if dual {
		if mode == modeRouted {
			for _, h := range l.Hosts {
				must(t, lab.Eventually(ctx, h.Name+" IPv6 routes to every remote block6", 20*time.Millisecond, func(ctx context.Context) (bool, error) {
					routes, err := lab.AgentRoutes6(ctx, h.NS)
					if err != nil {
						return false, err
					}
					if bad := badBlock6Routes(l, h, routes); len(bad) > 0 {
						return false, fmt.Errorf("%s", strings.Join(bad, "; "))
					}
					return true, nil
				}))
			}
		}
		pingEveryPair(t, ctx, lab.PodEndpoints6(pods), 2, mode+" IPv6 with least privilege")
	}
	// Still the same processes, with the same privileges: nothing
	// crashed and restarted along the way.
	for _, h := range l.Hosts {
		if !h.Running() {
			t.Errorf("%s: vxbgpd exited", h.Name)
		}
		if !agentSets {
			continue
		}
		want := []string{"net.ipv4.ip_forward = 1"}
		if dual {
			want = append(want, "net.ipv6.conf.all.forwarding = 1")
		}
		out, err := lab.Exec(ctx, h.NS, "sysctl", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
		must(t, err)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the agent did not turn forwarding on: %s", h.Name, out)
			}
		}
	}
}

// checkAgentPrivileges checks the running agent's capability sets and
// no_new_privs in /proc/PID/status, and that its /proc/sys is read-only
// when p makes it so.
func checkAgentPrivileges(t *testing.T, h *lab.Host, p privileges) {
	t.Helper()
	pid := h.PID()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	st := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(st["Name"], "vxbgpd") {
		t.Fatalf("%s: pid %d is %q, not vxbgpd (the launcher must exec it)", h.Name, pid, st["Name"])
	}
	want := map[string]string{
		"CapEff": p.caps.String(), "CapPrm": p.caps.String(), "CapBnd": p.caps.String(),
		"CapInh": caps.Set(0).String(), "CapAmb": caps.Set(0).String(),
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s: vxbgpd (pid %d) %s %s, want %s", h.Name, pid, k, st[k], v)
		}
	}
	if len(p.seccomp) > 0 && !hasOwnSeccompFilter(t, st) {
		t.Errorf("%s: vxbgpd %s: the unit's seccomp filter is not installed", h.Name, seccompStatus(st))
	}
	if nnp := st["NoNewPrivs"] == "1"; nnp != p.nnp {
		t.Errorf("%s: vxbgpd NoNewPrivs %s, want %v", h.Name, st["NoNewPrivs"], p.nnp)
	}
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	must(t, err)
	procSys := "rw (part of /proc)"
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/proc/sys" {
			procSys = strings.Split(f[5], ",")[0] // the last mount there wins
		}
	}
	t.Logf("%s: vxbgpd pid %d: CapEff %s %v, NoNewPrivs %s, /proc/sys %s, %s", h.Name, pid, st["CapEff"], p.caps.Names(), st["NoNewPrivs"], procSys, seccompStatus(st))
	if ro := procSys == "ro"; ro != p.procSysRO {
		t.Errorf("%s: vxbgpd's /proc/sys is %s, want read-only %v", h.Name, procSys, p.procSysRO)
	}
	if p.caps.Has(21) {
		t.Errorf("%s: the granted set holds CAP_SYS_ADMIN: it proves nothing about setns", h.Name)
	}
}

// readyz fetches http://127.0.0.1:9642/readyz inside ns: the socket is
// opened on a thread in ns (a socket stays in the namespace it was created
// in), then used from anywhere.
func readyz(ctx context.Context, ns string) (int, string, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return 0, "", fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer h.Close()
	var conn net.Conn
	if err := nstest.Do(h, func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 2 * time.Second}).Dial("tcp", "127.0.0.1:9642")
		return err
	}); err != nil {
		return 0, "", err
	}
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:9642/readyz", nil)
	if err != nil {
		conn.Close()
		return 0, "", err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// privilegeCases are the labs the privilege tests run: both modes, and
// routed dual-stack, whose IPv6 neighbour-solicitation responder needs an
// AF_PACKET socket (CAP_NET_RAW).
var privilegeCases = []struct {
	name, mode string
	dual       bool
}{
	{modeOverlay, modeOverlay, false},
	{modeRouted, modeRouted, false},
	{"routed-dualstack", modeRouted, true},
}

// TestDaemonSetPrivileges: vxbgpd with exactly the DaemonSet's privileges
// (containerd's defaults plus capabilities.add minus drop, no_new_privs,
// read-only /proc/sys and root file system) is ready with a pod attached
// on each of two hosts, and the pods ping each other, in both modes.
func TestDaemonSetPrivileges(t *testing.T) {
	for _, c := range privilegeCases {
		t.Run(c.name, func(t *testing.T) { runWithPrivileges(t, c.mode, c.dual, daemonSetPrivileges(t)) })
	}
}

// TestSystemdUnitPrivileges: the same with the systemd unit's
// CapabilityBoundingSet, NoNewPrivileges and Protect* settings.
func TestSystemdUnitPrivileges(t *testing.T) {
	for _, c := range privilegeCases {
		t.Run(c.name, func(t *testing.T) { runWithPrivileges(t, c.mode, c.dual, unitPrivileges(t)) })
	}
}

// TestReadOnlySysctlError: with the DaemonSet's privileges (read-only
// /proc/sys) on a host whose net.ipv4.ip_forward is 0, routed mode cannot
// turn forwarding on. The agent does not crash: it stays up, readyz and
// its log name the sysctl and the fix, vxbgp_reconcile_errors_total
// counts; once the host sets it, the agent becomes ready by itself.
func TestReadOnlySysctlError(t *testing.T) {
	nstest.Require(t)
	requireBinaries(t)
	ctx := testCtx(t, 2*time.Minute)
	p := daemonSetPrivileges(t)
	launcher := buildLauncher(t)
	// Two hosts: a peer's End-of-RIB lets h1 sync without waiting.
	l := newLab(t, ctx, lab.Options{
		Hosts:     2,
		Mode:      modeRouted,
		NoStart:   true,
		AgentWrap: func(h *lab.Host) []string { return p.argv(launcher, h) },
	})
	h := l.Host(1)
	_, err := lab.Exec(ctx, h.NS, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	must(t, err)
	start := time.Now()
	must(t, l.StartAll(ctx))
	checkAgentPrivileges(t, h, p)
	const want = "sysctl net.ipv4.ip_forward is 0 and vxbgp needs 1"
	var body string
	must(t, lab.Eventually(ctx, "readyz naming net.ipv4.ip_forward", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		code, b, err := readyz(ctx, h.NS)
		body = b
		return err == nil && code == http.StatusServiceUnavailable && strings.Contains(b, want), err
	}))
	t.Logf("readyz after %v: 503 %s", time.Since(start).Round(time.Millisecond), body)
	for _, s := range []string{"/proc/sys is not writable here", "set it on the host (sysctl -w net.ipv4.ip_forward=1"} {
		if !strings.Contains(body, s) {
			t.Errorf("readyz does not say %q: %s", s, body)
		}
	}
	logText, err := os.ReadFile(h.LogPath)
	must(t, err)
	if !strings.Contains(string(logText), want) {
		t.Errorf("vxbgpd's log does not name the sysctl (%q)", want)
	}
	// The operator's fix, on the host: the agent retries and is ready,
	// the same process.
	pid := h.PID()
	_, err = lab.Exec(ctx, h.NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	must(t, err)
	fixed := time.Now()
	must(t, lab.Eventually(ctx, "readyz once the host forwards", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		code, b, err := readyz(ctx, h.NS)
		return err == nil && code == http.StatusOK, fmt.Errorf("readyz %d: %s (%v)", code, b, err)
	}))
	t.Logf("TIMING: ready %v after the host set net.ipv4.ip_forward=1 (the reconciler's retry backoff)", time.Since(fixed).Round(time.Millisecond))
	if !h.Running() || h.PID() != pid {
		t.Errorf("vxbgpd restarted or exited (pid %d, now %d, running %v)", pid, h.PID(), h.Running())
	}
}
