//go:build heapprof

package main

// A diagnostic build (go build -tags heapprof): with VXBGP_HEAPPROFILE=DIR
// in its environment, vxbgpd writes DIR/heap-PID.pprof each time its
// in-use heap reaches a new high (checked every second), so that the file
// left at the end is the profile nearest the peak. The bench lab passes
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
	path := filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", os.Getpid()))
	go func() {
		var high uint64
		for range time.Tick(time.Second) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse <= high+high/20 { // 5 % above the last one written
				continue
			}
			high = ms.HeapInuse
			f, err := os.Create(path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "heapprof:", err)
				return
			}
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			_ = f.Close()
		}
	}()
}
