package kubelab

import (
	"context"
	"net"
	"net/http"

	"github.com/vxbgp/vxbgp/internal/netnsdo"
)

// dialer dials from the network namespace named ns ("" for the caller's
// own): the socket is made on a thread switched into ns and stays there,
// so a control plane in a lab namespace is reachable from the test
// process without any route in the root namespace.
func dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if ns == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netnsdo.DoNamed(ns, func() error {
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// inNetns runs f in the namespace named ns, or here when ns is "".
func inNetns(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	return netnsdo.DoNamed(ns, f)
}

// plainClient is an HTTP client (no TLS roots) dialing from ns.
func plainClient(ns string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: dialer(ns)}}
}
