package lab

import (
	"context"
	"os"
	"slices"
	"strings"
)

// Spawn starts vxbgpd without waiting for its API (Start does both): a
// test that kills the agent during start-up spawns it, waits a moment and
// calls Kill.
func (h *Host) Spawn() error { return h.spawn() }

// SpawnWith is Spawn with extra vxbgpd arguments, kept for every later
// start as RestartWith keeps them (e.g. "--mode", "routed").
func (h *Host) SpawnWith(args ...string) error {
	h.setArgs(args...)
	return h.spawn()
}

// Args returns the extra vxbgpd arguments of the next start.
func (h *Host) Args() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.args)
}

// WaitReady waits until the agent started by Spawn answers on its API.
func (h *Host) WaitReady(ctx context.Context) error { return h.waitReady(ctx) }

// LastRunLog returns what the latest agent process logged: the host's log
// from the last start marker startDaemon writes ("=== <time>: start").
func (h *Host) LastRunLog() string {
	b, err := os.ReadFile(h.LogPath)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndex(s, "\n=== "); i >= 0 {
		return s[i+1:]
	}
	return s
}
