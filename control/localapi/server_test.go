package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeBackend answers with fixed data and records what it was asked to do.
type fakeBackend struct {
	status    Status
	peers     []Peer
	routes    []Route
	endpoints []Endpoint
	fdb       []FDBEntry
	members   []Member
	err       error // returned by every method that can fail

	mu    sync.Mutex
	added []Endpoint
	dels  []string // containerID/ifName
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Status(context.Context) Status                 { return f.status }
func (f *fakeBackend) Peers(context.Context) ([]Peer, error)         { return f.peers, f.err }
func (f *fakeBackend) Routes(context.Context) ([]Route, error)       { return f.routes, f.err }
func (f *fakeBackend) Endpoints(context.Context) ([]Endpoint, error) { return f.endpoints, f.err }
func (f *fakeBackend) FDB(context.Context) ([]FDBEntry, error)       { return f.fdb, f.err }
func (f *fakeBackend) Members(context.Context) ([]Member, error)     { return f.members, f.err }

func (f *fakeBackend) AddEndpoint(_ context.Context, ep Endpoint) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, ep)
	return nil
}

func (f *fakeBackend) DelEndpoint(_ context.Context, containerID, ifName string) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dels = append(f.dels, containerID+"/"+ifName)
	return nil
}

func fullBackend() *fakeBackend {
	return &fakeBackend{
		status:    Status{NodeName: "host-a", Mode: "overlay", ASN: 64512, RouterID: "10.0.0.1", VTEP: "10.0.0.1", Networks: 1, Synced: true},
		peers:     []Peer{{Address: "10.0.0.2", ASN: 64512, State: "established", UptimeSeconds: 42, Received: 3, Accepted: 3, Source: "static"}},
		routes:    []Route{{Type: "type-2", RD: "10.0.0.2:1", MAC: "02:00:00:00:00:02", IP: "10.244.2.5", VNI: 100, NextHop: "10.0.0.2", Source: "10.0.0.2", Best: true}},
		endpoints: []Endpoint{{ContainerID: "c1", IfName: "eth0", Network: "pods", MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5"}}},
		fdb:       []FDBEntry{{Kind: "flood", VNI: 100, Device: "vx100", MAC: "00:00:00:00:00:00", VTEP: "10.0.0.2"}},
		members:   []Member{{NodeName: "host-a", Address: "10.0.0.1", State: "alive"}},
	}
}

// serve runs one request through Handler(b).
func serve(b Backend, method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	rec := httptest.NewRecorder()
	Handler(b).ServeHTTP(rec, req)
	return rec
}

func TestHandlerGet(t *testing.T) {
	full, empty := fullBackend(), &fakeBackend{}
	for _, tc := range []struct {
		path string
		b    *fakeBackend
		want any
	}{
		{"/v1/status", full, full.status},
		{"/v1/peers", full, full.peers},
		{"/v1/routes", full, full.routes},
		{"/v1/endpoints", full, full.endpoints},
		{"/v1/fdb", full, full.fdb},
		{"/v1/members", full, full.members},
		{"/v1/status", empty, Status{}},
		// Empty lists are [], never null.
		{"/v1/peers", empty, []Peer{}},
		{"/v1/routes", empty, []Route{}},
		{"/v1/endpoints", empty, []Endpoint{}},
		{"/v1/fdb", empty, []FDBEntry{}},
		{"/v1/members", empty, []Member{}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := serve(tc.b, "GET", tc.path, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tc.path, rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			want, _ := json.Marshal(tc.want)
			if got := strings.TrimSpace(rec.Body.String()); got != string(want) {
				t.Errorf("GET %s:\n got %s\nwant %s", tc.path, got, want)
			}
		})
	}
}

func TestHandlerEndpoints(t *testing.T) {
	const okBody = `{"containerID":"c1","ifName":"eth0","network":"pods","mac":"02:00:00:00:00:01","ips":["10.244.1.5","fd00::5"],"future":1}`
	okEp := Endpoint{ContainerID: "c1", IfName: "eth0", Network: "pods", MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5", "fd00::5"}}
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		backendErr   error
		wantCode     int
		wantErr      string // substring of the Error body
		wantAdded    []Endpoint
		wantDels     []string
	}{
		{name: "add", method: "PUT", path: "/v1/endpoints", body: okBody, wantCode: 204, wantAdded: []Endpoint{okEp}},
		{name: "add, no network (the agent's default)", method: "PUT", path: "/v1/endpoints",
			body: `{"containerID":"c1","ifName":"eth0","mac":"02:00:00:00:00:01","ips":["10.244.1.5"]}`, wantCode: 204,
			wantAdded: []Endpoint{{ContainerID: "c1", IfName: "eth0", MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5"}}}},
		{name: "add, bad JSON", method: "PUT", path: "/v1/endpoints", body: `{"containerID":`, wantCode: 400, wantErr: "endpoint: bad JSON body"},
		{name: "add, wrong type", method: "PUT", path: "/v1/endpoints", body: `{"ips":"10.244.1.5"}`, wantCode: 400, wantErr: "endpoint: bad JSON body"},
		{name: "add, trailing data", method: "PUT", path: "/v1/endpoints", body: okBody + `{}`, wantCode: 400, wantErr: "data after the endpoint"},
		{name: "add, empty body", method: "PUT", path: "/v1/endpoints", body: "", wantCode: 400, wantErr: "endpoint: bad JSON body"},
		{name: "add, nothing set", method: "PUT", path: "/v1/endpoints", body: `{}`, wantCode: 400, wantErr: "endpoint: missing containerID, ifName, mac, ips"},
		{name: "add, no IPs", method: "PUT", path: "/v1/endpoints", body: `{"containerID":"c1","ifName":"eth0","mac":"02:00:00:00:00:01","ips":[]}`,
			wantCode: 400, wantErr: "endpoint: missing ips"},
		{name: "add, bad MAC", method: "PUT", path: "/v1/endpoints", body: strings.Replace(okBody, "02:00:00:00:00:01", "02:00", 1),
			wantCode: 400, wantErr: `endpoint: mac "02:00"`},
		{name: "add, bad IP", method: "PUT", path: "/v1/endpoints", body: strings.Replace(okBody, "10.244.1.5", "10.244.1.5/24", 1),
			wantCode: 400, wantErr: `endpoint: ips: "10.244.1.5/24" is not an IP address`},
		{name: "add, backend fails", method: "PUT", path: "/v1/endpoints", body: okBody, backendErr: errors.New("disk full"),
			wantCode: 500, wantErr: "add endpoint c1/eth0: disk full"},
		{name: "add, backend refuses", method: "PUT", path: "/v1/endpoints", body: okBody, backendErr: fmt.Errorf("network %q: %w", "pods", ErrInvalid),
			wantCode: 400, wantErr: `add endpoint c1/eth0: network "pods": invalid request`},
		{name: "delete", method: "DELETE", path: "/v1/endpoints?containerID=c1&ifName=eth0", wantCode: 204, wantDels: []string{"c1/eth0"}},
		{name: "delete, escaped", method: "DELETE", path: "/v1/endpoints?containerID=a%2Fb&ifName=net%201", wantCode: 204, wantDels: []string{"a/b/net 1"}},
		{name: "delete, no ifName", method: "DELETE", path: "/v1/endpoints?containerID=c1", wantCode: 400, wantErr: "missing query parameter ifName"},
		{name: "delete, nothing", method: "DELETE", path: "/v1/endpoints", wantCode: 400, wantErr: "missing query parameter containerID, ifName"},
		{name: "delete, not found", method: "DELETE", path: "/v1/endpoints?containerID=c1&ifName=eth0", backendErr: ErrNotFound,
			wantCode: 404, wantErr: "delete endpoint c1/eth0: not found"},
		{name: "delete, backend fails", method: "DELETE", path: "/v1/endpoints?containerID=c1&ifName=eth0", backendErr: errors.New("boom"),
			wantCode: 500, wantErr: "delete endpoint c1/eth0: boom"},
		{name: "list fails", method: "GET", path: "/v1/peers", backendErr: errors.New("gobgp down"), wantCode: 500, wantErr: "/v1/peers: gobgp down"},
		{name: "list not found", method: "GET", path: "/v1/members", backendErr: ErrNotFound, wantCode: 404, wantErr: "/v1/members: not found"},
		{name: "unknown path", method: "GET", path: "/v1/nope", wantCode: 404, wantErr: "/v1/nope: no such API path"},
		{name: "root", method: "GET", path: "/", wantCode: 404, wantErr: "/: no such API path"},
		{name: "wrong method", method: "POST", path: "/v1/status", wantCode: 405, wantErr: "POST /v1/status: method not allowed (allowed: GET)"},
		{name: "wrong method on endpoints", method: "POST", path: "/v1/endpoints", body: okBody, wantCode: 405,
			wantErr: "POST /v1/endpoints: method not allowed (allowed: GET, PUT, DELETE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{err: tc.backendErr}
			rec := serve(b, tc.method, tc.path, tc.body)
			if rec.Code != tc.wantCode {
				t.Errorf("%s %s: code %d, want %d (body %s)", tc.method, tc.path, rec.Code, tc.wantCode, rec.Body)
			}
			if tc.wantErr != "" {
				var e Error
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, tc.wantErr) {
					t.Errorf("body %s (%v), want an Error containing %q", rec.Body, err, tc.wantErr)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("error Content-Type %q", ct)
				}
			} else if rec.Body.Len() != 0 {
				t.Errorf("body %q, want none", rec.Body)
			}
			if rec.Code == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if !reflect.DeepEqual(b.added, tc.wantAdded) || !reflect.DeepEqual(b.dels, tc.wantDels) {
				t.Errorf("backend added %+v deleted %q, want %+v %q", b.added, b.dels, tc.wantAdded, tc.wantDels)
			}
		})
	}
}

// shortDir is a fresh directory with a short path: a unix socket path must
// fit in 108 bytes, which t.TempDir's long names may not.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vxs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startServer serves b on a socket made by Listen and returns its path
// and a function that stops it and returns Serve's result.
func startServer(t *testing.T, b Backend, path string) (stop func() error) {
	t.Helper()
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, Handler(b)) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestServeRoundTrip runs every API call through the real client, the
// socket made by Listen and Serve.
func TestServeRoundTrip(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "run", "vxbgp", "api.sock")
	b := fullBackend()
	stop := startServer(t, b, path)

	for _, d := range []string{filepath.Join(dir, "run"), filepath.Join(dir, "run", "vxbgp")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("directory %s: %v %v, want mode 0755", d, fi.Mode(), err)
		}
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v %v, want a socket with mode 0600", path, fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("socket directory holds %d entries, want only the socket (no leftover temporary)", len(entries))
	}

	ctx := context.Background()
	c := NewClient(path)
	for _, tc := range []struct {
		name string
		call func() (any, error)
		want any
	}{
		{"status", func() (any, error) { return c.Status(ctx) }, b.status},
		{"peers", func() (any, error) { return c.Peers(ctx) }, b.peers},
		{"routes", func() (any, error) { return c.Routes(ctx) }, b.routes},
		{"endpoints", func() (any, error) { return c.Endpoints(ctx) }, b.endpoints},
		{"fdb", func() (any, error) { return c.FDB(ctx) }, b.fdb},
		{"members", func() (any, error) { return c.Members(ctx) }, b.members},
	} {
		got, err := tc.call()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	ep := Endpoint{ContainerID: "c9", IfName: "eth0", MAC: "02:00:00:00:00:09", IPs: []string{"10.244.1.9"}}
	if err := c.AddEndpoint(ctx, ep); err != nil {
		t.Errorf("AddEndpoint: %v", err)
	}
	if err := c.DelEndpoint(ctx, "c9", "eth0"); err != nil {
		t.Errorf("DelEndpoint: %v", err)
	}
	var se *StatusError
	if err := c.AddEndpoint(ctx, Endpoint{ContainerID: "c9"}); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, "missing ifName, mac, ips") {
		t.Errorf("AddEndpoint of an incomplete endpoint: %v, want a 400 naming the missing fields", err)
	}
	if !reflect.DeepEqual(b.added, []Endpoint{ep}) || !reflect.DeepEqual(b.dels, []string{"c9/eth0"}) {
		t.Errorf("backend added %+v deleted %q", b.added, b.dels)
	}

	if err := stop(); err != nil {
		t.Errorf("Serve returned %v after its context ended, want nil", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after shutdown: %v, want it removed", err)
	}
	if _, err := c.Status(ctx); err == nil {
		t.Error("Status after shutdown succeeded")
	}
}

func TestListenExisting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string // "" = Listen succeeds
	}{
		{"nothing there", func(t *testing.T, path string) {}, ""},
		{"stale socket", func(t *testing.T, path string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			// Close without removing the file, as a crash would leave it.
			l.SetUnlinkOnClose(false)
			l.Close()
		}, ""},
		{"live socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, "in use by another process"},
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "exists and is not a socket"},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "exists and is not a socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(shortDir(t), "api.sock")
			tc.prepare(t, path)
			l, err := Listen(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Errorf("Listen = %v, want an error naming %s and containing %q", err, path, tc.wantErr)
				}
				if err == nil {
					l.Close()
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			defer l.Close()
			if got := l.Addr().String(); got != path {
				t.Errorf("Addr = %s, want %s", got, path)
			}
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatalf("dial the new socket: %v", err)
			}
			c.Close()
		})
	}
}

// TestListenerCloseKeepsReplacement: Close removes our socket, but not one
// another process has put in its place since.
func TestListenerCloseKeepsReplacement(t *testing.T) {
	path := filepath.Join(shortDir(t), "api.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "other" {
		t.Errorf("replacement after Close: %q, %v; want it kept", b, err)
	}
}

// TestServeListenerFails: Serve returns at once, with the error, when its
// listener is unusable.
func TestServeListenerFails(t *testing.T) {
	l, err := Listen(filepath.Join(shortDir(t), "api.sock"))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := Serve(context.Background(), l, Handler(&fakeBackend{})); err == nil || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve on a closed listener = %v, want net.ErrClosed", err)
	}
}

// Parse is the edge where the API's strings become values: a bad MAC or
// address is ErrInvalid naming the field; an address may carry a prefix
// length, which is dropped.
func TestEndpointParse(t *testing.T) {
	good := Endpoint{ContainerID: "c", IfName: "eth0", Network: "pods", MAC: "02:00:00:00:00:01", IPs: []string{"10.244.1.5/16", "fd00::5"}}
	ep, err := good.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if ep.MAC.String() != "02:00:00:00:00:01" || len(ep.IPs) != 2 || ep.IPs[0].String() != "10.244.1.5" || ep.IPs[1].String() != "fd00::5" {
		t.Fatalf("Parse = %+v", ep)
	}
	if back := FromEndpoint(ep); back.IPs[0] != "10.244.1.5" || back.MAC != good.MAC || back.ContainerID != "c" {
		t.Fatalf("FromEndpoint = %+v", back)
	}
	for _, tc := range []struct {
		name string
		edit func(*Endpoint)
		want string
	}{
		{"no mac", func(e *Endpoint) { e.MAC = "" }, "needs containerID, ifName and mac"},
		{"no container", func(e *Endpoint) { e.ContainerID = "" }, "needs containerID, ifName and mac"},
		{"bad mac", func(e *Endpoint) { e.MAC = "zz" }, `mac "zz"`},
		{"bad ip", func(e *Endpoint) { e.IPs = []string{"10.244.1.5", "bad"} }, `ip "bad"`},
		{"zoned ip", func(e *Endpoint) { e.IPs = []string{"fe80::1%eth0"} }, `ip "fe80::1%eth0"`},
	} {
		e := good
		e.IPs = slices.Clone(good.IPs)
		tc.edit(&e)
		_, err := e.Parse()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalid mentioning %q", tc.name, err, tc.want)
		}
	}
}
