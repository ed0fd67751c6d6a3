package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Backend is what the API serves: the agent.
type Backend interface {
	Status(ctx context.Context) Status
	Peers(ctx context.Context) ([]Peer, error)
	Routes(ctx context.Context) ([]Route, error)
	Endpoints(ctx context.Context) ([]Endpoint, error)
	FDB(ctx context.Context) ([]FDBEntry, error)
	Members(ctx context.Context) ([]Member, error)
	AddEndpoint(ctx context.Context, ep Endpoint) error
	DelEndpoint(ctx context.Context, containerID, ifName string) error
}

// Errors a Backend wraps so the API answers with the right status: the
// caller asked for something wrong (400; e.g. an unknown network), or for
// something that is not there (404). Any other error is a 500.
var (
	ErrInvalid  = errors.New("invalid request")
	ErrNotFound = errors.New("not found")
)

// maxRequestBody bounds a PUT body: an Endpoint is a few hundred bytes.
const maxRequestBody = 1 << 20

// maxPooledBody: a body buffer that grew past it (a body far larger than
// an Endpoint) is not kept for the next request.
const maxPooledBody = 64 << 10

// Handler serves the API of b:
//
//	GET    /v1/status                                  Status
//	GET    /v1/peers /v1/routes /v1/endpoints /v1/fdb  lists ([] when empty)
//	GET    /v1/members                                 []Member
//	PUT    /v1/endpoints                               Endpoint body; 204
//	DELETE /v1/endpoints?containerID=..&ifName=..      204
//
// Every non-2xx answer has an Error body.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	// The buffers PUT bodies are read into.
	bodyBufs := &sync.Pool{New: func() any { return new(bytes.Buffer) }}
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status(r.Context()))
	})
	mux.HandleFunc("GET /v1/peers", list(b.Peers))
	mux.HandleFunc("GET /v1/routes", list(b.Routes))
	mux.HandleFunc("GET /v1/endpoints", list(b.Endpoints))
	mux.HandleFunc("GET /v1/fdb", list(b.FDB))
	mux.HandleFunc("GET /v1/members", list(b.Members))
	mux.HandleFunc("PUT /v1/endpoints", func(w http.ResponseWriter, r *http.Request) {
		ep, err := decodeEndpoint(w, r, bodyBufs)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if err := b.AddEndpoint(r.Context(), ep); err != nil {
			writeError(w, backendStatus(err), fmt.Errorf("add endpoint %s/%s: %w", ep.ContainerID, ep.IfName, err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /v1/endpoints", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		id, ifName := q.Get("containerID"), q.Get("ifName")
		if missing := missing("containerID", id, "ifName", ifName); missing != "" {
			writeError(w, http.StatusBadRequest, fmt.Errorf("delete endpoint: missing query parameter %s", missing))
			return
		}
		if err := b.DelEndpoint(r.Context(), id, ifName); err != nil {
			writeError(w, backendStatus(err), fmt.Errorf("delete endpoint %s/%s: %w", id, ifName, err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	// The mux's own 404 and 405 answers are plain text; these give them an
	// Error body like every other failure. Method patterns win over them.
	allowed := map[string]string{
		"/v1/status": "GET", "/v1/peers": "GET", "/v1/routes": "GET", "/v1/fdb": "GET",
		"/v1/members": "GET", "/v1/endpoints": "GET, PUT, DELETE",
	}
	for path, methods := range allowed {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: method not allowed (allowed: %s)", r.Method, path, methods))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("%s: no such API path", r.URL.Path))
	})
	return mux
}

// list serves a Backend list method; an empty list is [] rather than null,
// so clients can always iterate.
func list[T any](get func(context.Context) ([]T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r.Context())
		if err != nil {
			writeError(w, backendStatus(err), fmt.Errorf("%s: %w", r.URL.Path, err))
			return
		}
		if v == nil {
			v = []T{}
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// decodeEndpoint reads a PUT body: one JSON Endpoint with the fields the
// agent cannot do without. Unknown fields are accepted, so a newer CNI
// plugin can talk to an older agent.
//
// The body is read whole into a pooled buffer (a json.Decoder per request
// allocated and grew its own) and read by decodeEndpointFast; what that
// leaves alone goes to json.Unmarshal. A body Unmarshal refuses is decoded
// again the old way, for the same error messages.
func decodeEndpoint(w http.ResponseWriter, r *http.Request, bodyBufs *sync.Pool) (Endpoint, error) {
	var ep Endpoint
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodyBufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxRequestBody)); err != nil {
		return ep, fmt.Errorf("endpoint: bad JSON body: %w", err)
	}
	if decodeEndpointFast(buf.Bytes(), &ep) {
		return ep, checkEndpoint(ep)
	}
	ep = Endpoint{}
	if err := json.Unmarshal(buf.Bytes(), &ep); err != nil {
		ep = Endpoint{}
		dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
		if err := dec.Decode(&ep); err != nil {
			return ep, fmt.Errorf("endpoint: bad JSON body: %w", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return ep, errors.New("endpoint: bad JSON body: data after the endpoint")
		}
		return ep, fmt.Errorf("endpoint: bad JSON body: %w", err)
	}
	return ep, checkEndpoint(ep)
}

// checkEndpoint checks that a decoded endpoint has the fields the agent
// needs, well-formed.
func checkEndpoint(ep Endpoint) error {
	ips := strings.Join(ep.IPs, ",")
	if missing := missing("containerID", ep.ContainerID, "ifName", ep.IfName, "mac", ep.MAC, "ips", ips); missing != "" {
		return fmt.Errorf("endpoint: missing %s", missing)
	}
	if _, err := net.ParseMAC(ep.MAC); err != nil {
		return fmt.Errorf("endpoint: mac %q: %w", ep.MAC, err)
	}
	for _, ip := range ep.IPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("endpoint: ips: %q is not an IP address", ip)
		}
	}
	return nil
}

// missing names the empty values among name, value pairs, or returns "".
func missing(pairs ...string) string {
	var names []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			names = append(names, pairs[i])
		}
	}
	return strings.Join(names, ", ")
}

func backendStatus(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The status line is out: an encoding error can only cut the body short,
	// which the client's decoder reports.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, Error{Error: err.Error()})
}

// shutdownTimeout bounds how long Serve waits for requests in flight when
// its context ends.
const shutdownTimeout = 5 * time.Second

// Listen opens the API socket at path with mode 0600, creating its directory
// (0755) and replacing a stale socket file left by a crash. A socket that
// still answers belongs to a running agent and is an error.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	// Bind in a private directory, chmod, then rename into place: chmod
	// after binding at path would leave a moment in which, under a loose
	// umask, anyone could connect and keep the connection.
	tmpDir, err := os.MkdirTemp(dir, ".")
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	// Our Close removes path, not the temporary name.
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return &unixListener{UnixListener: l, path: path, file: fi}, nil
}

// removeStale removes path if it is a socket nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return errors.New("in use by another process (is vxbgpd already running?)")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check for a stale socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// unixListener is the API socket under its final name.
type unixListener struct {
	*net.UnixListener
	path string
	file fs.FileInfo // the socket we created, to recognise it on Close
}

func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Close stops listening and removes the socket file, unless another
// process has already replaced it with its own.
func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.file) {
		_ = os.Remove(l.path)
	}
	return err
}

// Serve serves h on l until ctx ends, then shuts down: it stops accepting,
// waits up to shutdownTimeout for requests in flight (their contexts are
// already cancelled) and closes l.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	<-errc
	if err != nil {
		return fmt.Errorf("shut down %s: %w", l.Addr(), err)
	}
	return nil
}
