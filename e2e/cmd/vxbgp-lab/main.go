// Command vxbgp-lab runs the vxbgp multi-host lab outside the test suite:
//
//	vxbgp-lab demo [-hosts 3] [-pods 2] [-mode overlay|routed] [-keep] [-bin bin]   build, converge, ping every pair, clean up
//	vxbgp-lab clean                                          remove every lab run's namespaces and daemons
//
// KEEP=1 in the environment is the same as -keep.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	// SIGINT/SIGTERM cancel the context; the subcommand then cleans up what
	// it created before exiting.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	switch os.Args[1] {
	case "demo":
		code = demo(ctx, os.Args[2:])
	case "clean":
		code = clean(ctx, os.Args[2:])
	default:
		usage()
		code = 2
	}
	stop()
	os.Exit(code)
}

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  vxbgp-lab demo [-hosts N] [-pods N] [-mode overlay|routed] [-keep] [-bin DIR] [-root DIR]
  vxbgp-lab clean [-root DIR]
`)
}
