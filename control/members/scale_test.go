package members

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestDeathAtScale measures how long N members take to see one of them
// dead: VXBGP_MEMBERS_SCALE=100 go test -run TestDeathAtScale -v. Off by
// default: 100 memberlists in one process on 2 cores take a while.
func TestDeathAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VXBGP_MEMBERS_SCALE"))
	if n < 3 {
		t.Skip("set VXBGP_MEMBERS_SCALE=N (3..250) to measure")
	}
	hosts := make([]*host, n)
	for i := range hosts {
		m := Meta{Name: fmt.Sprintf("h%03d", i), Addr: netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}), ASN: testASN, Mode: "routed"}
		c := Config{Self: m, RejoinInterval: time.Minute}
		if i > 0 {
			c.Seeds = []string{hosts[0].seed()}
		}
		hosts[i] = start(t, c)
	}
	waitFor(t, time.Minute, "all to see all", func() bool {
		for _, h := range hosts {
			if alive(h) != n {
				return false
			}
		}
		return true
	})
	victim := hosts[n-1]
	stopped := time.Now()
	victim.stop(t)
	var slowest time.Duration
	for _, h := range hosts[:n-1] {
		waitFor(t, 30*time.Second, h.c.Self.Name+" to see the victim dead", func() bool { return alive(h) == n-1 })
		slowest = max(slowest, time.Since(stopped))
	}
	t.Logf("%d members: the last saw the stopped one dead after %s", n, slowest.Round(time.Millisecond))
}

func alive(h *host) int {
	n := 0
	for _, m := range h.Members() {
		if m.State == Alive {
			n++
		}
	}
	return n
}
