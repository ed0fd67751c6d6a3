package main

import (
	"io"
	"log/slog"

	"github.com/vxbgp/vxbgp/control/config"
	"github.com/vxbgp/vxbgp/internal/logfmt"
)

// newLogger is the agent's logger on w at logLevel, in logFormat: text or
// json. Everything the agent logs goes through it: its own parts, GoBGP
// (control/bgp), memberlist (control/members) and client-go (klog, set
// in run), so with json every line of stderr is one JSON object.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	return slog.New(logfmt.Handler(w, cfg.LogFormat, cfg.Level()))
}
