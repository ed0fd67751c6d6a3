// Command vxbgpctl shows what the local vxbgpd is doing, through its API
// socket: status, BGP peers, routes, local endpoints, discovered members
// and the FDB it programmed.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
