package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/testlog"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// canary is a peer password that must show up nowhere but in the speaker.
const canary = "vxbgp-canary-agent-Pa55"

// tLog echoes log lines to the test's log while it runs.
type tLog struct{ t *testing.T }

func (w tLog) Write(p []byte) (int, error) {
	if os.Getenv("VXBGP_TEST_LOG") == "debug" {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// runLogged runs the agent on a fake kernel and speaker with every log
// line (debug level) in logs, until the test ends. wait returns RunWith's
// error once it returned (true), or false after d.
func runLogged(t *testing.T, cfg *config.Config, logs *testlog.Buffer) (sp *bgptest.Fake, wait func(d time.Duration) (bool, error)) {
	t.Helper()
	sp = bgptest.NewFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	var err error
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, tLog{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	parts := Parts{
		Dataplane:  overlaytest.New(),
		NewSpeaker: func(context.Context, bgp.Config) (Speaker, error) { return sp, nil },
	}
	go func() { err = RunWith(ctx, cfg, log, parts); close(finished) }()
	wait = func(d time.Duration) (bool, error) {
		select {
		case <-finished:
			return true, err
		case <-time.After(d):
			return false, nil
		}
	}
	t.Cleanup(func() {
		cancel()
		if ok, _ := wait(10 * time.Second); !ok {
			t.Error("the agent did not stop")
		}
	})
	return sp, wait
}

// writeFile writes a file of mode perm (whatever the umask).
func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// get fetches url over client, the body as text.
func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A password read from bgp.peers[].passwordFile reaches the speaker, and
// nothing else: not a log line at debug level, not an answer of the local
// API (what `vxbgpctl -o json` prints), not /metrics.
func TestAgentPasswordFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	pwFile := filepath.Join(dir, "peer-password")
	writeFile(t, pwFile, canary+"\n", 0o600)
	cfg.BGP.Peers[0].PasswordFile = pwFile
	cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", bgptest.FreePort(t, "127.0.0.1"))
	cfg.LogLevel = "debug"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	sp, _ := runLogged(t, cfg, &logs)
	bgptest.WaitFor(t, "the peer configured", 10*time.Second, func() bool { return len(sp.ConfiguredPeers()) == 1 })
	if got := sp.ConfiguredPeers()[0].Password; got != canary {
		t.Fatalf("the speaker's peer has password %q, want the file's without its newline", got)
	}

	api := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", cfg.API.Socket)
	}}}
	var answers []string
	for _, path := range []string{"/v1/status", "/v1/peers", "/v1/routes", "/v1/endpoints", "/v1/fdb", "/v1/members"} {
		answers = append(answers, path+": "+get(t, api, "http://vxbgp"+path))
	}
	bgptest.WaitFor(t, "the metrics listener", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", cfg.Metrics.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		answers = append(answers, path+": "+get(t, http.DefaultClient, "http://"+cfg.Metrics.Listen+path))
	}
	all := strings.Join(answers, "\n")
	if !strings.Contains(all, `"address": "192.0.2.2"`) && !strings.Contains(all, `"address":"192.0.2.2"`) {
		t.Fatalf("the peers answer does not list the peer:\n%s", all)
	}
	if strings.Contains(all, canary) {
		t.Errorf("an answer shows the password:\n%s", all)
	}
	out := logs.String()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "vxbgpd running") {
		t.Fatalf("the run's logs were not captured:\n%s", out)
	}
	if strings.Contains(out, canary) {
		t.Errorf("a log line shows the password:\n%s", out)
	}
}

// A password file the agent must not use stops it at start, naming the
// key; the message does not quote the file's content.
func TestAgentPasswordFileRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	pwFile := filepath.Join(dir, "peer-password")
	writeFile(t, pwFile, canary, 0o644)
	cfg.BGP.Peers[0].PasswordFile = pwFile
	var logs testlog.Buffer
	_, wait := runLogged(t, cfg, &logs)
	ok, err := wait(10 * time.Second)
	if !ok {
		t.Fatal("the agent started with a world-readable password file")
	}
	want := "bgp.peers[0].passwordFile: password file " + pwFile + ": world-readable (mode 0644)"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), canary) {
		t.Fatalf("RunWith = %v, want %s...", err, want)
	}
}

const testConflist = `{"cniVersion":"1.0.0","name":"vxbgp","plugins":[{"type":"vxbgp-cni","network":"pods"}]}`

// The conflist appears only once the agent is ready (its initial table
// complete: the peer's End-of-RIBs), and stays when the agent stops.
func TestAgentConflistWhenReady(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	cfg.CNI.ConflistSource = filepath.Join(dir, "10-vxbgp.conflist")
	cfg.CNI.ConflistDest = filepath.Join(dir, "host", "etc", "cni", "net.d", "10-vxbgp.conflist")
	writeFile(t, cfg.CNI.ConflistSource, testConflist, 0o644)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dp := overlaytest.New()
	r := startAgent(t, cfg, dp)

	// Not ready: the peer's table is not complete. The writer checks
	// every second; two of its periods must pass without a file.
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(cfg.CNI.ConflistDest); !os.IsNotExist(err) {
			t.Fatalf("the conflist exists before the agent is ready (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := r.api.Status(context.Background())
	if err != nil || st.Ready {
		t.Fatalf("Status = %+v, %v: want not ready yet", st, err)
	}

	r.sp.EOR(bgp.FamilyEVPN, peerAddr)
	r.sp.EOR(bgp.FamilyIPv4, peerAddr)
	bgptest.WaitFor(t, "the conflist once ready", 10*time.Second, func() bool {
		b, err := os.ReadFile(cfg.CNI.ConflistDest)
		return err == nil && string(b) == testConflist
	})
	if st, err := r.api.Status(context.Background()); err != nil || !st.Ready {
		t.Fatalf("the conflist is written but Status = %+v, %v", st, err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(cfg.CNI.ConflistDest); err != nil || string(b) != testConflist {
		t.Fatalf("after SIGTERM the conflist is %q, %v: it must stay", b, err)
	}
}

// A conflist source without vxbgp-cni stops the agent at start, naming
// cni.conflistSource.
func TestAgentConflistSourceRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, config.ModeOverlay)
	cfg.CNI.ConflistSource = filepath.Join(dir, "10-vxbgp.conflist")
	cfg.CNI.ConflistDest = filepath.Join(dir, "net.d", "10-vxbgp.conflist")
	writeFile(t, cfg.CNI.ConflistSource, `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"}]}`, 0o644)
	var logs testlog.Buffer
	_, wait := runLogged(t, cfg, &logs)
	ok, err := wait(10 * time.Second)
	if !ok {
		t.Fatal("the agent started with a conflist that has no vxbgp-cni")
	}
	if err == nil || !strings.HasPrefix(err.Error(), "cni.conflistSource: "+cfg.CNI.ConflistSource+`: no plugin of type "vxbgp-cni"`) {
		t.Fatalf("RunWith = %v", err)
	}
	if _, err := os.Stat(filepath.Dir(cfg.CNI.ConflistDest)); !os.IsNotExist(err) {
		t.Errorf("net.d made by an agent that did not start: %v", err)
	}
}
