// Command kubelab-pause is the cluster lab's sandbox (pause) image's only
// binary: PID 1 of a pod sandbox, it sleeps until SIGTERM or SIGINT. Built
// static (CGO_ENABLED=0) and packed by the lab, so no registry is needed.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
