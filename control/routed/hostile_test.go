package routed

import (
	"fmt"
	"testing"

	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

// Hostile unicast input over a real session: a peer announces routes via
// martian next hops, via our own next hop, for our own block and outside
// every allowed range. Only the good route, sent alongside, is installed;
// the refusals are counted (the import policy drops what is outside before
// the Source sees it, and GoBGP some martian next hops).
func TestRoutedHostileRoutes(t *testing.T) {
	h := newHost(t, "H", "127.0.0.171", "10.0.0.171", testASN, hostConfig(1))
	r := newSpeaker(t, "R", "127.0.0.172", "10.0.0.172", testASN, nil, nil)
	h.run(t)
	for i, nh := range []string{"127.0.0.9", "224.0.0.9", "255.255.255.255", "0.1.2.3", "169.254.0.9", "192.0.2.1"} {
		r.Originate(t, fmt.Sprintf("10.244.%d.0/24", 20+i), nh)
	}
	for _, nh := range []string{"::1", "ff02::9", "fe80::9"} {
		r.Originate(t, "fd00:10:244:99::/64", nh) // each replaces the last
	}
	r.Originate(t, "10.244.1.128/25", "192.0.2.3") // inside our block
	r.Originate(t, "192.168.99.0/24", "192.0.2.3") // outside
	r.Originate(t, "10.244.9.0/24", "192.0.2.3")   // good
	h.Peer(t, dualStack, r)
	r.Peer(t, dualStack, h.Speaker)
	waitRoutes(t, h, "H after the hostile routes", "10.244.9.0/24 192.0.2.3")
	// GoBGP itself treats an IPv4 NEXT_HOP in 0/8 or 224/3 as a
	// withdrawal (RFC 7606 7.3), and a loopback one unless the session
	// runs on loopback, as here; the rest reach the Source: 127.0.0.9,
	// 169.254.0.9, ours, and the IPv6 next hops (MP_REACH_NLRI's are not
	// checked by GoBGP). They may come in UPDATEs after the good route's.
	bgptest.WaitFor(t, "the refusals counted", sessionTimeout, func() bool {
		return h.src.Rejected("bad_nexthop") >= 4 && h.src.Rejected("own_block") == 1
	})
	waitRoutes(t, h, "H after the refusals", "10.244.9.0/24 192.0.2.3")
}
