package sdnotify

import (
	"context"
	"log/slog"
	"time"
)

// Health is what Run reports: each check returns nil when fine, or why
// not.
type Health struct {
	// Synced says the start-up is done (the agent's initial sync): READY=1
	// then. Not Ready's condition: an agent that synced but keeps failing
	// one kernel operation is up and serving, and must not fail its start
	// and be restarted in a loop (nor hold back the units ordered after
	// it); STATUS= says what fails. Nil: READY=1 once Ready is nil.
	Synced func() bool
	Ready  func() error // the agent's /readyz: STATUS= says why not
	Alive  func() error // WATCHDOG=1 only while nil (the agent's /healthz)
}

func (h Health) started() bool {
	if h.Synced != nil {
		return h.Synced()
	}
	return h.Ready() == nil
}

// Poll is how often Run reads Health for READY=1 and STATUS=.
const Poll = 500 * time.Millisecond

// Run tells the service manager about h until ctx ends, then sends
// STOPPING=1. It never fails the caller: a message that cannot be sent
// is logged (once per distinct error) and the next one tried. With a nil
// Notifier it returns at once.
func (n *Notifier) Run(ctx context.Context, h Health, log *slog.Logger) error {
	if n == nil {
		return nil
	}
	if n.warning != nil {
		log.Warn("systemd notify", "err", n.warning)
	}
	var lastErr string
	send := func(lines ...string) {
		err := n.Notify(lines...)
		switch {
		case err == nil:
			lastErr = ""
		case err.Error() != lastErr:
			lastErr = err.Error()
			log.Warn("systemd notify failed", "err", err)
		}
	}
	poll := time.NewTicker(Poll)
	defer poll.Stop()
	var watchdog <-chan time.Time
	if n.watchdog > 0 {
		t := time.NewTicker(n.watchdog / 2)
		defer t.Stop()
		watchdog = t.C
	}
	ready, status := false, ""
	report := func() {
		var lines []string
		if !ready && h.started() {
			ready = true
			lines = append(lines, "READY=1")
			log.Info("systemd notified: ready")
		}
		if s := statusText(h, ready, n.watchdog > 0); s != status {
			status = s
			lines = append(lines, "STATUS="+s)
		}
		if len(lines) > 0 {
			send(lines...)
		}
	}
	alive := func() bool {
		if err := h.Alive(); err != nil {
			report() // the STATUS says why the pings stopped
			return false
		}
		return true
	}
	if alive() && n.watchdog > 0 {
		send("WATCHDOG=1")
	}
	report()
	for {
		select {
		case <-ctx.Done():
			send("STOPPING=1", "STATUS=stopping: kernel state and BGP routes stay in place for the next start")
			return nil
		case <-poll.C:
			report()
		case <-watchdog:
			if alive() {
				send("WATCHDOG=1")
			}
		}
	}
}

// statusText is the STATUS= line systemctl status shows: why the agent is
// not ready or not alive, or "ready".
func statusText(h Health, ready, watchdog bool) string {
	if err := h.Alive(); err != nil {
		if watchdog {
			return "unhealthy: " + err.Error() + "; watchdog pings stopped"
		}
		return "unhealthy: " + err.Error()
	}
	if err := h.Ready(); err != nil {
		if !ready {
			return "starting: not ready yet: " + err.Error()
		}
		return "not ready: " + err.Error()
	}
	return "ready: every source reported and the kernel matches"
}
