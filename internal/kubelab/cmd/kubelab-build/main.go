// Command kubelab-build builds (or finds in its cache) the Kubernetes
// binaries the tests run against, so that CI builds them in a step of
// their own rather than inside a test's timeout.
//
//	kubelab-build [cmd ...]   (default: kube-apiserver)
//
// It prints the directory holding them.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/vxbgp/vxbgp/internal/kubelab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cmds := os.Args[1:]
	if len(cmds) == 0 {
		cmds = []string{kubelab.APIServer}
	}
	dir, err := kubelab.Build(ctx, kubelab.Version, log.Printf, cmds...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dir)
}
