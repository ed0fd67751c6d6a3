package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// clientTestRequest is what the fake agent saw.
type clientTestRequest struct {
	Method, Path, Query, ContentType string
	Body                             string
}

// startClientTestServer serves h on a fresh unix socket and returns its path.
// The directory is short because unix socket paths are limited to 108 bytes.
func startClientTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	return startClientTestServerWith(t, &http.Server{Handler: h})
}

// startClientTestServerWith serves srv on a fresh unix socket.
func startClientTestServerWith(t *testing.T, srv *http.Server) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vxc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return sock
}

func TestClientRequests(t *testing.T) {
	ep := Endpoint{ContainerID: "c1", IfName: "eth0", Network: "pods", MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5"}}
	epJSON, _ := json.Marshal(ep)
	tests := []struct {
		name   string
		call   func(context.Context, *Client) (any, error)
		answer string
		want   clientTestRequest
		result any
	}{
		{
			name:   "status",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Status(ctx) },
			answer: `{"nodeName":"host-a","mode":"overlay","asn":64512,"synced":true}`,
			want:   clientTestRequest{Method: "GET", Path: "/v1/status"},
			result: Status{NodeName: "host-a", Mode: "overlay", ASN: 64512, Synced: true},
		},
		{
			name:   "peers",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Peers(ctx) },
			answer: `[{"address":"10.0.0.2","asn":64512,"state":"established","source":"static"}]`,
			want:   clientTestRequest{Method: "GET", Path: "/v1/peers"},
			result: []Peer{{Address: "10.0.0.2", ASN: 64512, State: "established", Source: "static"}},
		},
		{
			name:   "routes",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Routes(ctx) },
			answer: `[{"type":"type-3","ip":"10.0.0.2","vni":100,"nextHop":"10.0.0.2","source":"10.0.0.2","best":true}]`,
			want:   clientTestRequest{Method: "GET", Path: "/v1/routes"},
			result: []Route{{Type: "type-3", IP: "10.0.0.2", VNI: 100, NextHop: "10.0.0.2", Source: "10.0.0.2", Best: true}},
		},
		{
			name:   "endpoints",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Endpoints(ctx) },
			answer: "[" + string(epJSON) + "]",
			want:   clientTestRequest{Method: "GET", Path: "/v1/endpoints"},
			result: []Endpoint{ep},
		},
		{
			name:   "fdb",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.FDB(ctx) },
			answer: `[{"kind":"mac","vni":100,"device":"vxlan100","mac":"02:00:00:00:00:02","vtep":"10.0.0.2"}]`,
			want:   clientTestRequest{Method: "GET", Path: "/v1/fdb"},
			result: []FDBEntry{{Kind: "mac", VNI: 100, Device: "vxlan100", MAC: "02:00:00:00:00:02", VTEP: "10.0.0.2"}},
		},
		{
			name:   "add endpoint",
			call:   func(ctx context.Context, c *Client) (any, error) { return nil, c.AddEndpoint(ctx, ep) },
			answer: ``,
			want:   clientTestRequest{Method: "PUT", Path: "/v1/endpoints", ContentType: "application/json", Body: string(epJSON)},
		},
		{
			name:   "delete endpoint",
			call:   func(ctx context.Context, c *Client) (any, error) { return nil, c.DelEndpoint(ctx, "c 1&x", "eth0") },
			answer: ``,
			want:   clientTestRequest{Method: "DELETE", Path: "/v1/endpoints", Query: "containerID=c+1%26x&ifName=eth0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan clientTestRequest, 1)
			sock := startClientTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- clientTestRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"), Body: string(b)}
				if tt.answer == "" {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.answer)
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := tt.call(ctx, NewClient(sock))
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if req := <-got; req != tt.want {
				t.Errorf("request = %+v, want %+v", req, tt.want)
			}
			if tt.result != nil && !reflect.DeepEqual(res, tt.result) {
				t.Errorf("result = %+v, want %+v", res, tt.result)
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantCode int
		wantMsg  string
	}{
		{"json error", http.StatusNotFound, `{"error":"endpoint c1/eth0 not found"}`, 404, "endpoint c1/eth0 not found"},
		{"plain text", http.StatusInternalServerError, "boom\n", 500, "boom"},
		{"empty body", http.StatusServiceUnavailable, "", 503, "(no body)"},
		{"json without message", http.StatusBadRequest, `{}`, 400, "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := startClientTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			err := NewClient(sock).DelEndpoint(context.Background(), "c1", "eth0")
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *StatusError", err)
			}
			if se.Code != tt.wantCode || se.Message != tt.wantMsg {
				t.Errorf("StatusError = %d %q, want %d %q", se.Code, se.Message, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestClientAgentDown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	_, err := NewClient(sock).Status(context.Background())
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err = %v, want ENOENT", err)
	}
	var se *StatusError
	if errors.As(err, &se) {
		t.Errorf("an unreachable agent must not look like an answer: %v", se)
	}
	if want := "GET /v1/status on " + sock + ": dial unix " + sock + ": connect: no such file or directory"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

// A hung agent must not hang the caller: the context bounds the call.
func TestClientHonoursContext(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	sock := startClientTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	err := NewClient(sock).AddEndpoint(ctx, Endpoint{ContainerID: "c1"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
