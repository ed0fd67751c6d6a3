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

func TestLossPing(t *testing.T) {
	// ping -n -D -i 0.1 (iputils 20221126): seq 3-4 and 7 unanswered, one
	// duplicate that must not count.
	out := "PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.\n" +
		"[1700000000.100000] 64 bytes from 10.244.2.2: icmp_seq=1 ttl=63 time=0.071 ms\n" +
		"[1700000000.200000] 64 bytes from 10.244.2.2: icmp_seq=2 ttl=63 time=0.071 ms\n" +
		"[1700000000.250000] 64 bytes from 10.244.2.2: icmp_seq=2 ttl=63 time=0.071 ms (DUP!)\n" +
		"[1700000000.500000] 64 bytes from 10.244.2.2: icmp_seq=5 ttl=63 time=0.071 ms\n" +
		"[1700000000.6] 64 bytes from 10.244.2.2: icmp_seq=6 ttl=63 time=0.071 ms\n" +
		"[1700000000.800000] 64 bytes from 10.244.2.2: icmp_seq=8 ttl=63 time=0.071 ms\n" +
		"\n--- 10.244.2.2 ping statistics ---\n8 packets transmitted, 5 received, +1 duplicates, 37.5% packet loss, time 700ms\n"
	p := &LossPing{Interval: 100 * time.Millisecond, replies: map[int]time.Time{}}
	// Feed it in awkward pieces, as a pipe would.
	for i := 0; i < len(out); i += 7 {
		_, _ = p.write([]byte(out[i:min(i+7, len(out))]))
	}
	if got := p.Replies(); got != 5 {
		t.Errorf("replies %d, want 5", got)
	}
	st, err := parsePing(p.summary)
	if err != nil || st.Transmitted != 8 || st.Received != 5 {
		t.Fatalf("summary %+v %v", st, err)
	}
	w := lossWindows(p.replies, st.Transmitted, p.Interval)
	if len(w) != 2 || w[0].FromSeq != 3 || w[0].ToSeq != 4 || w[1].FromSeq != 7 || w[1].Lost() != 1 {
		t.Fatalf("windows %+v", w)
	}
	if want := time.Unix(1700000000, 300000000); !w[0].At.Equal(want) {
		t.Errorf("first window at %v, want %v", w[0].At, want)
	}
	if want := time.Unix(1700000000, 700000000); !w[1].At.Equal(want) {
		t.Errorf("second window at %v, want %v", w[1].At, want)
	}
	if got := (LossStats{PingStats: st}).LostTime(p.Interval); got != 300*time.Millisecond {
		t.Errorf("lost time %v", got)
	}
}
