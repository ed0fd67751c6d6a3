package localapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// connServer serves h on a fresh socket and counts the connections it
// accepted; closeIdle makes it close each connection once a request on it
// is done, as an agent that restarts between two calls leaves a kept
// connection.
func connServer(t *testing.T, h http.HandlerFunc, closeIdle bool) (sock string, conns func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := &http.Server{Handler: h, ConnState: func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			mu.Lock()
			n++
			mu.Unlock()
		case http.StateIdle:
			if closeIdle {
				c.Close()
			}
		}
	}}
	sock = startClientTestServerWith(t, srv)
	return sock, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestTransportKeepsConnection(t *testing.T) {
	sock, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"nodeName":"a"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}, false)
	c := NewClient(sock)
	ctx := context.Background()
	for i := range 5 {
		if err := c.AddEndpoint(ctx, Endpoint{ContainerID: "c1"}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if st, err := c.Status(ctx); err != nil || st.NodeName != "a" {
			t.Fatalf("status %d = %+v, %v", i, st, err)
		}
	}
	if n := conns(); n != 1 {
		t.Errorf("10 calls one after the other used %d connections, want 1", n)
	}
}

// A kept connection the agent closed (it restarted) costs a retry on a new
// connection, not an error.
func TestTransportRetriesClosedConnection(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	sock, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}, true)
	c := NewClient(sock)
	for i := range 3 {
		if err := c.AddEndpoint(context.Background(), Endpoint{ContainerID: "c1"}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if n := conns(); n != 3 {
		t.Errorf("3 calls on connections closed after each used %d connections, want 3", n)
	}
	for i, b := range bodies {
		if !strings.Contains(b, `"containerID":"c1"`) {
			t.Errorf("request %d body %q: the retry lost the body", i, b)
		}
	}
}

// Several kept connections to an agent that restarted cost each caller
// one retry on a new connection, not an error: the retry must not take
// another of the dead kept connections (SIGKILL e2e: 8 callers kept 8,
// and 4 of their DELETEs failed after the agent came back).
func TestTransportRetriesAfterRestartWithManyKept(t *testing.T) {
	const callers = 8
	var mu sync.Mutex
	var conns []net.Conn
	hold := make(chan struct{}) // closed once every caller is in flight
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-hold
		w.WriteHeader(http.StatusNoContent)
	}), ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}}
	sock := startClientTestServerWith(t, srv)
	c := NewClient(sock)
	// Every caller at once, so the client keeps one connection each.
	errs := make(chan error, callers)
	for range callers {
		go func() { errs <- c.AddEndpoint(context.Background(), Endpoint{ContainerID: "c1"}) }()
	}
	for {
		mu.Lock()
		n := len(conns)
		mu.Unlock()
		if n == callers {
			break
		}
		runtime.Gosched()
	}
	close(hold)
	for range callers {
		if err := <-errs; err != nil {
			t.Fatalf("first round: %v", err)
		}
	}
	// The agent "restarts": every connection it had is gone.
	mu.Lock()
	for _, cn := range conns {
		cn.Close()
	}
	mu.Unlock()
	for i := range callers {
		if err := c.DelEndpoint(context.Background(), "c1", "eth0"); err != nil {
			t.Fatalf("call %d after the restart: %v", i, err)
		}
	}
}

// An answer not read to its end leaves the connection unusable: it is
// closed, not kept.
func TestTransportDropsUnreadAnswer(t *testing.T) {
	big := strings.Repeat("x", clientMaxBody+10)
	sock, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, big)
	}, false)
	c := NewClient(sock)
	for range 2 {
		if err := c.DelEndpoint(context.Background(), "c1", "eth0"); err == nil {
			t.Fatal("want an error")
		}
	}
	if n := conns(); n != 2 {
		t.Errorf("2 calls with answers left unread used %d connections, want 2", n)
	}
}
