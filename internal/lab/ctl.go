package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vxbgp/vxbgp/control/localapi"
)

// Ctl runs `vxbgpctl --socket <host socket> args...` in the host namespace.
func (h *Host) Ctl(ctx context.Context, args ...string) (string, error) {
	argv := append([]string{h.bin(BinCtl), "--socket", h.Socket}, args...)
	return Exec(ctx, h.NS, argv...)
}

// ctlJSON runs `vxbgpctl -o json args...` and decodes the output into v.
func (h *Host) ctlJSON(ctx context.Context, v any, args ...string) error {
	out, err := h.Ctl(ctx, append([]string{"-o", "json"}, args...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("decode vxbgpctl %s output %q: %w", strings.Join(args, " "), abbrev(out), err)
	}
	return nil
}

// ctlList decodes a list command's JSON. It accepts a bare array and, in case
// the CLI wraps lists, an object with exactly one array member.
func ctlList[T any](ctx context.Context, h *Host, cmd string) ([]T, error) {
	var raw json.RawMessage
	if err := h.ctlJSON(ctx, &raw, cmd); err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var list []T
	if len(raw) > 0 && raw[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("decode vxbgpctl %s: %w", cmd, err)
		}
		var arrays []json.RawMessage
		for _, m := range obj {
			if m = bytes.TrimSpace(m); len(m) > 0 && (m[0] == '[' || bytes.Equal(m, []byte("null"))) {
				arrays = append(arrays, m)
			}
		}
		if len(arrays) != 1 {
			return nil, fmt.Errorf("decode vxbgpctl %s: object with %d list members: %s", cmd, len(arrays), abbrev(string(raw)))
		}
		raw = arrays[0]
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decode vxbgpctl %s: %w", cmd, err)
	}
	return list, nil
}

// Status is `vxbgpctl status`.
func (h *Host) Status(ctx context.Context) (localapi.Status, error) {
	var s localapi.Status
	err := h.ctlJSON(ctx, &s, "status")
	return s, err
}

// Peers is `vxbgpctl peers`.
func (h *Host) Peers(ctx context.Context) ([]localapi.Peer, error) {
	return ctlList[localapi.Peer](ctx, h, "peers")
}

// Routes is `vxbgpctl routes`.
func (h *Host) Routes(ctx context.Context) ([]localapi.Route, error) {
	return ctlList[localapi.Route](ctx, h, "routes")
}

// Endpoints is `vxbgpctl endpoints`.
func (h *Host) Endpoints(ctx context.Context) ([]localapi.Endpoint, error) {
	return ctlList[localapi.Endpoint](ctx, h, "endpoints")
}

// Members is `vxbgpctl members`.
func (h *Host) Members(ctx context.Context) ([]localapi.Member, error) {
	return ctlList[localapi.Member](ctx, h, "members")
}

// discoveredPeers is how many sessions discovery gives h: every other
// host, or with bgp.mesh off the route reflectors among them.
func (h *Host) discoveredPeers() int {
	n := 0
	for _, o := range h.lab.Hosts {
		if o != h && (h.Config.Meshed() || (o.Config != nil && o.Config.Reflector())) {
			n++
		}
	}
	return n
}

// WaitPeers waits until every configured peer of h is established; with
// discovery, every other host of the lab too (the reflectors only, with
// bgp.mesh off).
func (h *Host) WaitPeers(ctx context.Context) error {
	want := len(h.lab.Hosts) - 1 + len(h.lab.FRR)
	if h.Config != nil {
		want = len(h.Config.BGP.Peers)
		if h.Config.Discovery != nil {
			want += h.discoveredPeers()
		}
	}
	return Eventually(ctx, h.Name+" BGP sessions", pollSlow, func(ctx context.Context) (bool, error) {
		if err := h.checkAlive(); err != nil {
			return false, err
		}
		peers, err := h.Peers(ctx)
		if err != nil {
			return false, err
		}
		var up []string
		var down []string
		for _, p := range peers {
			if strings.EqualFold(p.State, "established") {
				up = append(up, p.Address)
			} else {
				down = append(down, p.Address+"="+p.State)
			}
		}
		if len(up) >= want && len(down) == 0 {
			return true, nil
		}
		return false, fmt.Errorf("%d/%d established, not: %v", len(up), want, down)
	})
}

// WaitAllPeers waits until every host's and every FRR host's sessions are
// established, and returns how long that took.
func (l *Lab) WaitAllPeers(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for _, h := range l.Hosts {
		if err := h.WaitPeers(ctx); err != nil {
			return 0, err
		}
	}
	for _, f := range l.FRR {
		if err := f.WaitEstablished(ctx, peerAddrs(f.peers())...); err != nil {
			return 0, err
		}
	}
	for _, r := range l.Routers {
		if err := r.WaitEstablished(ctx, peerAddrs(r.peers())...); err != nil {
			return 0, err
		}
	}
	d := time.Since(start)
	l.logf("lab %s: all BGP sessions established after %v", l.ID, d.Round(time.Millisecond))
	return d, nil
}

// HasType2 reports whether routes hold a type-2 for mac (and ip, if not
// empty), from any source.
func HasType2(routes []localapi.Route, mac, ip string) bool {
	for _, r := range routes {
		if r.Type == "type-2" && strings.EqualFold(r.MAC, mac) && (ip == "" || r.IP == ip) {
			return true
		}
	}
	return false
}

func abbrev(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
