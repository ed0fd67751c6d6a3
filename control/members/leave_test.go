package members

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Every member sees a Leave as a departure, even when gossip alone would
// miss some: here half the cluster is dead, and memberlist counts its
// sends to the dead against the announcement's few retransmissions.
func TestLeaveReachesEveryMember(t *testing.T) {
	const n = 8
	var hs []*host
	for i := range n {
		c := Config{Self: meta(fmt.Sprintf("m%d", i), 110+i)}
		if i > 0 {
			c.Seeds = []string{hs[0].seed()}
		}
		hs = append(hs, start(t, c))
	}
	all := ""
	for i := range n {
		all += fmt.Sprintf(" m%d=alive", i)
	}
	waitStates(t, all[1:], hs...)
	for _, h := range hs[n/2 : n-1] {
		h.stop(t)
	}
	for _, h := range hs[:n/2] {
		waitFor(t, 10*time.Second, h.c.Self.Name+" to see the stopped dead", func() bool {
			dead := 0
			for _, m := range h.Members() {
				if m.State == Dead {
					dead++
				}
			}
			return dead == n/2-1
		})
	}
	leaver := hs[n-1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := leaver.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs[:n/2] {
		waitFor(t, 5*time.Second, h.c.Self.Name+" to see "+leaver.c.Self.Name+" leave", func() bool {
			for _, m := range h.Members() {
				if m.Name == leaver.c.Self.Name {
					return m.State != Alive
				}
			}
			return false
		})
		for _, m := range h.Members() {
			if m.Name == leaver.c.Self.Name && m.State != Left {
				t.Errorf("%s sees %s %s, want left", h.c.Self.Name, m.Name, m.State)
			}
		}
	}
}
