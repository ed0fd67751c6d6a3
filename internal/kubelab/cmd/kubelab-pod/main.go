// Command kubelab-pod is the only binary of the cluster lab's workload
// image (cluster.PodImage), built static and packed by the lab.
//
//	kubelab-pod                 sleep until SIGTERM or SIGINT (the container's process)
//	kubelab-pod ping IP...      ping each IP from the pod, print one line per IP, exit 1 if any failed
//
// The ping is what `kubectl exec POD -- /kubelab-pod ping IP...` runs: the
// lab's own raw-ICMP pinger (internal/lab), no ping binary and no shell in
// the image. Each address gets one echo request, and a second only if the
// first is lost; the lines read "IP ok" or "IP fail: reason".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/vxbgp/vxbgp/internal/lab"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ping" {
		os.Exit(ping(os.Args[2:]))
	}
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kubelab-pod [ping IP...]")
		os.Exit(2)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}

// ping pings every address at once and prints the results in the order
// given; it returns the exit code.
func ping(ips []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make([]error, len(ips))
	var wg sync.WaitGroup
	for i, ip := range ips {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = pingOnce(ctx, ip)
		}()
	}
	wg.Wait()
	code := 0
	for i, err := range results {
		if err != nil {
			fmt.Printf("%s fail: %v\n", ips[i], err)
			code = 1
			continue
		}
		fmt.Printf("%s ok\n", ips[i])
	}
	return code
}

// pingOnce sends one request and, if it is lost, a second: nil when one
// is answered.
func pingOnce(ctx context.Context, ip string) error {
	var err error
	for range 2 {
		var st lab.PingStats
		if st, err = lab.Ping(ctx, "", ip, 1); err == nil && st.Received == 1 {
			return nil
		}
	}
	if err == nil {
		return errors.New("no answer within 2 s, twice")
	}
	return err
}
