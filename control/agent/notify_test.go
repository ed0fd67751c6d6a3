package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/internal/liveness"
	"github.com/vxbgp/vxbgp/overlay"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// stuckDP is the fake kernel whose Apply, once stuck, never returns until
// the run ends: a netlink call that hangs.
type stuckDP struct {
	*overlaytest.Dataplane
	stuck atomic.Bool
}

func (d *stuckDP) Apply(ctx context.Context, op overlay.Op) error {
	if d.stuck.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return d.Dataplane.Apply(ctx, op)
}

// notifySocket is a service manager's notify socket: an abstract unixgram
// socket, as systemd's own is, and the messages it received.
type notifySocket struct {
	name string
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	name := fmt.Sprintf("@vxbgp-notify-%d-%d", os.Getpid(), time.Now().UnixNano())
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &notifySocket{name: name, msgs: make(chan string, 10000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

// await returns the first message holding line within d, and the
// messages before it.
func (s *notifySocket) await(t *testing.T, line string, d time.Duration) (string, []string) {
	t.Helper()
	var before []string
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %q; got %q", line, before)
			}
			if hasLine(m, line) {
				return m, before
			}
			before = append(before, m)
		case <-timeout:
			t.Fatalf("no %q within %v; got %q", line, d, before)
		}
	}
}

// during returns the messages received within d.
func (s *notifySocket) during(d time.Duration) []string {
	var got []string
	timeout := time.After(d)
	for {
		select {
		case m := <-s.msgs:
			got = append(got, m)
		case <-timeout:
			return got
		}
	}
}

// drain returns the messages received so far.
func (s *notifySocket) drain() []string {
	var got []string
	for {
		select {
		case m := <-s.msgs:
			got = append(got, m)
		default:
			return got
		}
	}
}

// hasLine: line is one of m's lines, or a prefix of one when it ends in "=".
func hasLine(m, line string) bool {
	for _, l := range strings.Split(strings.TrimRight(m, "\n"), "\n") {
		if l == line || strings.HasSuffix(line, "=") && strings.HasPrefix(l, line) {
			return true
		}
	}
	return false
}

func count(msgs []string, line string) int {
	n := 0
	for _, m := range msgs {
		if hasLine(m, line) {
			n++
		}
	}
	return n
}

func healthz(t *testing.T, listen string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + listen + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// The agent under systemd (Type=notify, WatchdogSec=): READY=1 only once
// it synced (the peer's End-of-RIBs), STATUS= saying why until then,
// WATCHDOG=1 every half period while its loops turn over, also while
// idle; /healthz 200 meanwhile. A reconciler stuck in a kernel call makes
// /healthz 503 naming the loop after the threshold, and the watchdog
// pings stop (so systemd restarts it); STOPPING=1 when it stops.
func TestAgentSystemdNotify(t *testing.T) {
	const stall, watchdog = 2 * time.Second, 300 * time.Millisecond
	sock := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", sock.name)
	t.Setenv("WATCHDOG_USEC", fmt.Sprint(watchdog.Microseconds()))
	t.Setenv("WATCHDOG_PID", "")
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", bgptest.FreePort(t, "127.0.0.1"))
	dp := &stuckDP{Dataplane: overlaytest.New()}
	r := startAgentWith(t, cfg, dp.Dataplane, true, func(p *Parts) {
		p.Dataplane, p.Liveness = dp, liveness.New(stall)
	})

	// Not ready: the peer has not sent its End-of-RIBs (the sync timeout
	// is 30s). The watchdog is fed all the same.
	msgs := sock.during(1500 * time.Millisecond)
	if n := count(msgs, "READY=1"); n > 0 {
		t.Fatalf("READY=1 before the agent is ready: %q", msgs)
	}
	if n := count(msgs, "WATCHDOG=1"); n < 4 {
		t.Errorf("%d WATCHDOG=1 in 1.5s with WATCHDOG_USEC=%d, want about 10: %q", n, watchdog.Microseconds(), msgs)
	}
	if count(msgs, "STATUS=starting: not ready yet: synced=false lastError=") != 1 {
		t.Errorf("no STATUS saying why it is not ready: %q", msgs)
	}
	if st, err := r.api.Status(context.Background()); err != nil || st.Ready {
		t.Fatalf("Status %+v, %v: want not ready", st, err)
	}

	r.sp.EOR(bgp.FamilyEVPN, peerAddr)
	r.sp.EOR(bgp.FamilyIPv4, peerAddr)
	m, _ := sock.await(t, "READY=1", 10*time.Second)
	if st, err := r.api.Status(context.Background()); err != nil || !st.Synced {
		t.Fatalf("READY=1 sent, but Status %+v, %v: want synced", st, err)
	}
	if !hasLine(m, "STATUS=ready: every source reported and the kernel matches") {
		// READY=1 comes with the initial sync; the pass that makes the
		// kernel match follows at once.
		sock.await(t, "STATUS=ready: every source reported and the kernel matches", 5*time.Second)
	}

	// Idle and healthy for 2.5 thresholds: /healthz stays 200, the
	// watchdog keeps being fed.
	deadline := time.Now().Add(5 * stall / 2)
	for time.Now().Before(deadline) {
		if code, body := healthz(t, cfg.Metrics.Listen); code != http.StatusOK {
			t.Fatalf("/healthz of an idle healthy agent: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if msgs := sock.drain(); count(msgs, "WATCHDOG=1") < 15 {
		t.Errorf("%d WATCHDOG=1 in 5s of idle, want about 33: %q", count(msgs, "WATCHDOG=1"), msgs)
	}

	// The reconciler hangs in a kernel call.
	dp.stuck.Store(true)
	r.sp.Deliver(remoteType2(t, "02:00:00:00:00:99", "10.244.2.99", false))
	stuckAt := time.Now()
	var body string
	bgptest.WaitFor(t, "/healthz 503", 10*time.Second, func() bool {
		var code int
		code, body = healthz(t, cfg.Metrics.Listen)
		return code == http.StatusServiceUnavailable
	})
	t.Logf("/healthz 503 after %v: %s", time.Since(stuckAt).Round(10*time.Millisecond), body)
	if !strings.HasPrefix(body, "unhealthy: reconciler loop stalled for ") || !strings.HasSuffix(body, "s (threshold 2s)") {
		t.Errorf("/healthz body %q, want the stalled loop named", body)
	}
	m, _ = sock.await(t, "STATUS=", 5*time.Second)
	for !strings.Contains(m, "unhealthy: reconciler loop stalled") {
		m, _ = sock.await(t, "STATUS=", 5*time.Second)
	}
	if !strings.HasSuffix(strings.TrimSpace(m), "; watchdog pings stopped") {
		t.Errorf("STATUS %q", m)
	}
	if msgs := sock.during(4 * watchdog); count(msgs, "WATCHDOG=1") > 0 {
		t.Errorf("WATCHDOG=1 while the reconciler is stuck: %q", msgs)
	}

	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	m, _ = sock.await(t, "STOPPING=1", 5*time.Second)
	t.Logf("on stop: %q", m)
}
