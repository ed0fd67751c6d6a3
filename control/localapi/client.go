package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// clientMaxBody bounds how much of a failed answer we read: enough for any
// message the agent writes, not enough for a confused server to exhaust us.
const clientMaxBody = 64 << 10

// Client talks to the agent's local API over its unix socket. It sets no
// timeout of its own: callers bound each call with their context (the CNI
// plugin uses about a second, so a hung agent never stalls pod creation).
type Client struct {
	socket string
	tr     *transport
}

// NewClient returns a client for the API socket at path socket. It does not
// connect until the first call.
func NewClient(socket string) *Client {
	tr := &transport{
		// The host part of our URLs is a placeholder: every request goes to
		// the one socket.
		dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		// Callers that announce many endpoints at once (a resync, the
		// bench) keep their connections instead of re-dialling.
		maxIdle: 16,
	}
	return &Client{socket: socket, tr: tr}
}

// StatusError is a non-2xx answer; Message is the agent's Error.Error, or
// the start of the body when the body was not the JSON Error.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("agent answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// UnreachableError is a request that got no answer: no socket, nobody
// listening, no permission, or no answer before the context ended. The
// agent answered nothing, as opposed to a StatusError.
type UnreachableError struct {
	Op     string // e.g. "GET /v1/status"
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string { return fmt.Sprintf("%s on %s: %v", e.Op, e.Socket, e.Err) }
func (e *UnreachableError) Unwrap() error { return e.Err }

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Peers is GET /v1/peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var p []Peer
	err := c.do(ctx, http.MethodGet, "/v1/peers", nil, &p)
	return p, err
}

// Routes is GET /v1/routes.
func (c *Client) Routes(ctx context.Context) ([]Route, error) {
	var r []Route
	err := c.do(ctx, http.MethodGet, "/v1/routes", nil, &r)
	return r, err
}

// Endpoints is GET /v1/endpoints.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var e []Endpoint
	err := c.do(ctx, http.MethodGet, "/v1/endpoints", nil, &e)
	return e, err
}

// FDB is GET /v1/fdb.
func (c *Client) FDB(ctx context.Context) ([]FDBEntry, error) {
	var f []FDBEntry
	err := c.do(ctx, http.MethodGet, "/v1/fdb", nil, &f)
	return f, err
}

// AddEndpoint is PUT /v1/endpoints with the endpoint as the JSON body.
func (c *Client) AddEndpoint(ctx context.Context, ep Endpoint) error {
	return c.do(ctx, http.MethodPut, "/v1/endpoints", ep, nil)
}

// DelEndpoint is DELETE /v1/endpoints?containerID=..&ifName=..
func (c *Client) DelEndpoint(ctx context.Context, containerID, ifName string) error {
	q := url.Values{"containerID": {containerID}, "ifName": {ifName}}
	return c.do(ctx, http.MethodDelete, "/v1/endpoints?"+q.Encode(), nil, nil)
}

// do sends one request; in, when non-nil, is the JSON body; out, when
// non-nil, receives the JSON answer.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://vxbgpd"+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Straight to the transport: the API has no redirects, cookies or
	// client timeouts for an http.Client to handle, and its header copies
	// were a tenth of a PUT's allocations.
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return &UnreachableError{Op: method + " " + path, Socket: c.socket, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %w", method, path, clientStatusError(resp))
	}
	if out == nil {
		// Drain so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, clientMaxBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func clientStatusError(resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, clientMaxBody))
	var e Error
	if err := json.Unmarshal(b, &e); err == nil && e.Error != "" {
		return &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = "(no body)"
	}
	return &StatusError{Code: resp.StatusCode, Message: msg}
}
