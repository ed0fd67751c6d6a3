//go:build heapprof

package main

// A diagnostic build (go build -tags heapprof): with VXBGP_HEAPPROFILE=DIR
// in its environment, vxbgpd writes DIR/heap-PID-N.pprof (N = 1, 2, ...)
// each time its in-use heap reaches a new high (checked every second): the
// last is the profile nearest the peak, and the series tells the phases of
// a run apart (a table taken in, then withdrawn). The bench lab passes
// its environment on to the agents it starts; `go tool pprof -top
// -sample_index=inuse_space FILE` reads it. Not in a release build: a
// profile names our internals, and ReadMemStats stops the world.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

func init() {
	dir := os.Getenv("VXBGP_HEAPPROFILE")
	if dir == "" {
		return
	}
	go func() {
		var high uint64
		n := 0
		for range time.Tick(time.Second) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse <= high+high/20 { // 5 % above the last one written
				continue
			}
			high = ms.HeapInuse
			n++
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d-%d.pprof", os.Getpid(), n)))
			if err != nil {
				fmt.Fprintln(os.Stderr, "heapprof:", err)
				return
			}
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			_ = f.Close()
		}
	}()
}
