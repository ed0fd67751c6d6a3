package lab

import (
	"slices"
	"testing"
	"time"
)

func TestDecodeRoutes(t *testing.T) {
	// ip -j -4 route show proto 201, iproute2 6.1: a plain and a multipath route.
	out := `[{"dst":"10.244.2.0/24","gateway":"10.250.0.2","dev":"eth0","flags":[]},` +
		`{"dst":"192.168.88.0/24","flags":[],"nexthops":[{"gateway":"10.250.0.202","dev":"eth0","weight":1,"flags":[]},` +
		`{"gateway":"10.250.0.201","dev":"eth0","weight":1,"flags":[]}]}]`
	list, err := decodeRoutes(out)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := FindRoute(list, "10.244.2.0/24")
	if !ok || !slices.Equal(r.Gateways(), []string{"10.250.0.2"}) {
		t.Errorf("plain route: %+v %v", r, ok)
	}
	r, ok = FindRoute(list, "192.168.88.0/24")
	if !ok || !slices.Equal(r.Gateways(), []string{"10.250.0.201", "10.250.0.202"}) {
		t.Errorf("multipath route: %+v %v", r, ok)
	}
	if got := r.String(); got != "192.168.88.0/24 nexthop via 10.250.0.202 dev eth0 nexthop via 10.250.0.201 dev eth0" {
		t.Errorf("String: %q", got)
	}
	if list, err := decodeRoutes("[]\n"); err != nil || len(list) != 0 {
		t.Errorf("empty: %v %v", list, err)
	}
}

func TestLossWindows(t *testing.T) {
	// 8 requests every 100 ms: 3-4 and 7 unanswered.
	at := func(ms int) time.Time { return time.Unix(1700000000, int64(ms)*int64(time.Millisecond)) }
	replies := map[int]time.Time{1: at(100), 2: at(200), 5: at(500), 6: at(600), 8: at(800)}
	interval := 100 * time.Millisecond
	st := PingStats{Transmitted: 8, Received: len(replies)}
	w := lossWindows(replies, st.Transmitted, interval)
	if len(w) != 2 || w[0].FromSeq != 3 || w[0].ToSeq != 4 || w[1].FromSeq != 7 || w[1].Lost() != 1 {
		t.Fatalf("windows %+v", w)
	}
	if want := at(300); !w[0].At.Equal(want) {
		t.Errorf("first window at %v, want %v", w[0].At, want)
	}
	if want := at(700); !w[1].At.Equal(want) {
		t.Errorf("second window at %v, want %v", w[1].At, want)
	}
	if got := (LossStats{PingStats: st}).LostTime(interval); got != 300*time.Millisecond {
		t.Errorf("lost time %v", got)
	}
	// A loss at the start is placed from the first answer after it.
	if w := lossWindows(map[int]time.Time{3: at(300)}, 3, interval); len(w) != 1 || !w[0].At.Equal(at(100)) {
		t.Errorf("leading window %+v", w)
	}
}
