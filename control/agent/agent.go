// Package agent wires vxbgpd together for the chosen mode: the endpoint
// store, the BGP speaker and its EVPN source, the reconciler and the kernel,
// the local API and the metrics listener.
package agent

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vxbgp/vxbgp/control/config"
)

// Run runs the agent until ctx ends. On return the kernel state is left in
// place, so traffic keeps flowing and the next start reconciles it.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return errors.New("agent: not implemented yet")
}
