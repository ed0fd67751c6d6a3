//go:build cpuprof

package main

// A diagnostic build (go build -tags cpuprof): with VXBGP_CPUPROFILE=DIR
// in its environment, vxbgpd writes a CPU profile of every second of its
// life to DIR/cpu-PID-N.pprof (N counting windows), so that the windows
// of one bench phase can be read together: `go tool pprof -top FILES...`
// merges them. Not in a release build, like heapprof.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

func init() {
	dir := os.Getenv("VXBGP_CPUPROFILE")
	if dir == "" {
		return
	}
	go func() {
		for n := 0; ; n++ {
			path := filepath.Join(dir, fmt.Sprintf("cpu-%d-%04d.pprof", os.Getpid(), n))
			f, err := os.Create(path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "cpuprof:", err)
				return
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "cpuprof:", err)
				_ = f.Close()
				return
			}
			time.Sleep(time.Second)
			pprof.StopCPUProfile()
			_ = f.Close()
		}
	}()
}
