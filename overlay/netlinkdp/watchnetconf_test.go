package netlinkdp_test

import (
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/overlay/overlaytest"
)

// TestWatchKicksOnNetconf: Watch kicks when a sysctl of one of our bridges
// or a host-wide one (ip_forward) changes, written under /proc/sys as
// sysctl -w does, and not for another device's.
func TestWatchKicksOnNetconf(t *testing.T) {
	dp, _, ns := newDP(t)
	applyState(t, dp, kernelState())
	kicks, quiet := watchKicks(t, dp)
	// The new bridges' own late events (IPv6 autoconfiguration and the
	// like) die down first, so that a kick below is the sysctl's.
	quiet(time.Second)
	write := func(path, v string) []string { return []string{"sh", "-c", "echo " + v + " > /proc/sys/" + path} }
	expectKicks(t, ns, kicks, quiet, []kickCase{
		{"our bridge's proxy_arp", write("net/ipv4/conf/vxbr100/proxy_arp", "1"), true},
		{"our bridge's forwarding", write("net/ipv4/conf/vxbr100/forwarding", "1"), true},
		{"ip_forward", write("net/ipv4/ip_forward", "1"), true},
		{"our bridge's IPv6 forwarding", write("net/ipv6/conf/vxbr100/forwarding", "1"), true},
		{"another device's proxy_arp", write("net/ipv4/conf/"+overlaytest.ContractUnderlay+"/proxy_arp", "1"), false},
	})
}
