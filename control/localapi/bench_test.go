package localapi

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// nopBackend takes every endpoint and keeps none: what a PUT costs the
// API itself, without an agent behind it.
type nopBackend struct{ fakeBackend }

func (*nopBackend) AddEndpoint(context.Context, Endpoint) error { return nil }

// BenchmarkAddEndpoint: one PUT /v1/endpoints through the real client,
// socket and server, 8 at a time (the bulk bench's parallelism), each
// caller on its own kept-alive connection. CPU per PUT is what matters:
// the client's and the server's add up on a busy host.
func BenchmarkAddEndpoint(b *testing.B) {
	dir := shortDir(&testing.T{})
	sock := filepath.Join(dir, "api.sock")
	l, err := Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, Handler(&nopBackend{})) }()
	defer func() { cancel(); <-done }()
	c := NewClient(sock)
	b.ReportAllocs()
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 callers
	b.ResetTimer()
	cpu0 := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			ep := Endpoint{ContainerID: fmt.Sprintf("bulk00%08d", i), IfName: "eth0", Network: "vxnet",
				MAC: "02:b1:00:00:00:01", IPs: []string{"10.244.128.1"}}
			if err := c.AddEndpoint(ctx, ep); err != nil {
				b.Error(err)
				return
			}
		}
	})
	// CPU per PUT, client and server together: on 2 shared cores the
	// wall time per PUT follows the neighbours' load.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
