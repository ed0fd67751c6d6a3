package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/vxbgp/vxbgp/control/config"
)

// applyMemoryLimit sets the Go runtime's soft memory limit from
// memoryLimit (validated by load), unless GOMEMLIMIT is in the
// environment: the runtime has applied that one at start, as in any Go
// program, and it wins, so that an operator can change the limit of one
// host (a systemd drop-in, a DaemonSet env entry) without its config.
func applyMemoryLimit(cfg *config.Config, log *slog.Logger) {
	if env := os.Getenv("GOMEMLIMIT"); env != "" { // empty is unset, for the runtime too
		log.Info("memory limit from GOMEMLIMIT (memoryLimit ignored)", "GOMEMLIMIT", env, "memoryLimit", cfg.MemoryLimit)
		return
	}
	n, err := config.ParseMemoryLimit(cfg.MemoryLimit)
	if err != nil { // load validated it; a caller that skipped Validate gets Go's default
		log.Warn("memory limit not set", "memoryLimit", cfg.MemoryLimit, "err", err)
		return
	}
	debug.SetMemoryLimit(n)
	log.Debug("memory limit set", "memoryLimit", cfg.MemoryLimit, "bytes", n)
}
