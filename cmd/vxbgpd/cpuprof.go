//go:build heapprof

package main

// The same diagnostic build (go build -tags heapprof): with
// VXBGP_CPUPROFILE=DIR in its environment, vxbgpd profiles its CPU in
// windows of 5 s and writes each as DIR/cpu-PID-N.pprof (N counts up from
// 1), so that a run's profile is there without a clean shutdown: `go tool
// pprof -top vxbgpd DIR/cpu-PID-*.pprof` merges them. At the end of each
// window it also writes the heap profile as DIR/allocs-PID-N.pprof, whose
// allocation counts are cumulative: `go tool pprof -sample_index=alloc_space
// -base DIR/allocs-PID-1.pprof vxbgpd DIR/allocs-PID-2.pprof` is what the
// second window allocated (as of the last GC in each); DIR/memstats-PID.txt
// gets a line per window end with the exact bytes allocated and GC cycles
// so far (runtime.MemStats). No listener, no
// release build. VXBGP_PROFILE_WINDOW (a Go duration) sets another
// window length: with 1s, a run's phases are told apart by the files'
// times (each file's mtime is its window's end).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

func init() {
	dir := os.Getenv("VXBGP_CPUPROFILE")
	if dir == "" {
		return
	}
	window := 5 * time.Second
	if w, err := time.ParseDuration(os.Getenv("VXBGP_PROFILE_WINDOW")); err == nil && w > 0 {
		window = w
	}
	go func() {
		for n := 1; ; n++ {
			var buf bytes.Buffer
			if err := pprof.StartCPUProfile(&buf); err != nil {
				fmt.Fprintln(os.Stderr, "cpuprof:", err)
				return
			}
			// VXBGP_TRACE=1: an execution trace of each window too,
			// DIR/trace-PID-N.out (`go tool trace -pprof=sched`: where
			// goroutines waited to run)
			var tbuf bytes.Buffer
			tracing := os.Getenv("VXBGP_TRACE") != "" && trace.Start(&tbuf) == nil
			time.Sleep(window)
			pprof.StopCPUProfile()
			if tracing {
				trace.Stop()
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("trace-%d-%d.out", os.Getpid(), n)), tbuf.Bytes(), 0o644)
			}
			path := filepath.Join(dir, fmt.Sprintf("cpu-%d-%d.pprof", os.Getpid(), n))
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "cpuprof:", err)
				return
			}
			// the exact totals at the window's end, one line each:
			// unix time, bytes allocated so far, GC cycles so far
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("memstats-%d.txt", os.Getpid())), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "%.3f %d %d\n", float64(time.Now().UnixMilli())/1000, ms.TotalAlloc, ms.NumGC)
				_ = f.Close()
			}
			buf.Reset()
			_ = pprof.Lookup("allocs").WriteTo(&buf, 0)
			path = filepath.Join(dir, fmt.Sprintf("allocs-%d-%d.pprof", os.Getpid(), n))
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "cpuprof:", err)
				return
			}
		}
	}()
}
