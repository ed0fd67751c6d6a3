package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// /healthz is 200 "ok" while alive says so (or without alive), and 503
// with alive's reason otherwise.
func TestHealthz(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var stalled atomic.Bool
	alive := func() error {
		if stalled.Load() {
			return errors.New("reconciler loop stalled for 45s (threshold 30s)")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, NewRegistry(), func() error { return nil }, alive) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func() (int, string) {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(fmt.Sprintf("http://%s/healthz", addr))
			if err != nil {
				if time.Now().After(deadline) {
					t.Fatal(err)
				}
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, strings.TrimSpace(string(b))
		}
	}
	if code, body := get(); code != http.StatusOK || body != "ok" {
		t.Errorf("alive: %d %q", code, body)
	}
	stalled.Store(true)
	if code, body := get(); code != http.StatusServiceUnavailable || body != "unhealthy: reconciler loop stalled for 45s (threshold 30s)" {
		t.Errorf("stalled: %d %q", code, body)
	}
}
