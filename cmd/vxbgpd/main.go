// Command vxbgpd is the vxbgp agent: one per host, it runs the BGP EVPN
// control plane and programs the kernel's VXLAN devices, FDB and neighbours.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vxbgp/vxbgp/control/agent"
)

func main() {
	// SIGTERM ends the context: the agent stops and leaves the kernel state
	// in place for the next start.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, agent.Version, agent.Run)
	stop()
	os.Exit(code)
}
