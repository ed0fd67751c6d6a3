package mask

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// TCPProbe reports whether a host answers at ap: a connection that
// completes or is refused (the host's kernel answered with a reset) is an
// answer; a timeout (ctx) or an unreachable network or host is not. A
// host whose agent crashed or restarts refuses at once; a powered-off or
// cut-off host says nothing.
func TCPProbe(ctx context.Context, ap netip.AddrPort) bool {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ap.String())
	if err == nil {
		c.Close()
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
