// Command vxbgp-lab runs the vxbgp multi-host lab outside the test suite:
//
//	vxbgp-lab demo [-hosts 3] [-pods 2] [-mode overlay|routed] [-keep] [-bin bin]   build, converge, ping every pair, clean up
//	vxbgp-lab clean                                          remove every lab run's namespaces and daemons
//	vxbgp-lab demo-k8s [-nodes 3] [-pods 3] [-keep] [-bin bin]   a Kubernetes cluster on the lab, vxbgp deployed by its manifests
//	vxbgp-lab demo-k8s-clean                                 remove the clusters demo-k8s -keep left running
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
	case "demo-k8s":
		code = demoK8s(ctx, os.Args[2:])
	case "demo-k8s-clean":
		code = demoK8sClean(ctx, os.Args[2:])
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
  vxbgp-lab demo-k8s [-nodes N] [-pods N] [-keep] [-bin DIR] [-manifests DIR]
  vxbgp-lab demo-k8s-clean
`)
}
