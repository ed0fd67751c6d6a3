package lab

import (
	"context"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/internal/nstest"
)

// The lab's own pings (no ping binary) in a namespace of the test's own,
// against its loopback: counts, both families, several sockets at once,
// and losses placed in time.

func TestPingLoopback(t *testing.T) {
	_, ns := nstest.New(t, "vxecho")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sysctl(ctx, ns, "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.lo.disable_ipv6=0"))
	for _, ip := range []string{"127.0.0.1", "::1"} {
		st, err := Ping(ctx, ns, ip, 3)
		if err != nil || st.Transmitted != 3 || st.Received != 3 {
			t.Errorf("Ping %s: %+v %v, want 3/3", ip, st, err)
		}
	}
	// No route: every send fails, which is an error, as it was for ping.
	if st, err := Ping(ctx, ns, "192.0.2.1", 1); err == nil {
		t.Errorf("Ping with no route: %+v, no error", st)
	}
	// A route but no answer (the request comes back on lo, not for this
	// namespace, which does not forward): counted, not an error.
	nstest.IP(t, ns, "route", "add", "198.51.100.0/24", "dev", "lo")
	start := time.Now()
	if st, err := Ping(ctx, ns, "198.51.100.2", 1); err != nil || st.Transmitted != 1 || st.Received != 0 {
		t.Errorf("Ping of an address nobody has: %+v %v, want 0/1 and no error", st, err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 4*time.Second {
		t.Errorf("an unanswered request was awaited %v, want 2 s", took)
	}
	m := PingMatrix(ctx, []Endpoint{fakeNS{"a", ns, "127.0.0.1"}, fakeNS{"b", ns, "::1"}, fakeNS{"c", ns, "198.51.100.2"}})
	if m.Pairs() != 6 || len(m.Failed()) != 2 {
		t.Errorf("matrix: want 4/6 (only c fails to answer):\n%s", m)
	}
	if _, err := Ping(ctx, ns, "not-an-ip", 1); err == nil {
		t.Error("Ping of a name: no error")
	}
	if _, err := Ping(ctx, "vxecho-missing", "127.0.0.1", 1); err == nil {
		t.Error("Ping from a missing namespace: no error")
	}
}

func TestLossPingLoopback(t *testing.T) {
	_, ns := nstest.New(t, "vxloss")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Two runs in one namespace see each other's answers on their raw
	// sockets; each must count only its own.
	other, err := StartPing(ctx, ns, "127.0.0.1", 10*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()
	p, err := StartLossPing(ctx, ns, "127.0.0.1", 20*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if err := p.WaitReplies(ctx, 5); err != nil {
		t.Fatal(err)
	}
	first, err := p.WaitFirstReply(ctx)
	if err != nil || first.IsZero() || time.Since(first) > 10*time.Second {
		t.Fatalf("first reply at %v: %v", first, err)
	}
	downAt := time.Now()
	nstest.IP(t, ns, "link", "set", "lo", "down")
	time.Sleep(300 * time.Millisecond)
	nstest.IP(t, ns, "link", "set", "lo", "up")
	upAt := time.Now()
	if err := p.WaitReplies(ctx, p.Replies()+10); err != nil {
		t.Fatal(err)
	}
	st, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Stop()
	if err != nil || again.PingStats != st.PingStats {
		t.Errorf("second Stop: %+v %v, first %+v", again.PingStats, err, st.PingStats)
	}
	t.Logf("loss ping: %d sent, %d answered, windows %+v (lo down %s - %s)", st.Transmitted, st.Received, st.Windows,
		downAt.Format("15:04:05.000"), upAt.Format("15:04:05.000"))
	lost := 0
	for _, w := range st.Windows {
		lost += w.Lost()
		if w.At.Before(downAt.Add(-time.Second)) || w.At.After(upAt.Add(time.Second)) {
			t.Errorf("window %+v placed outside the outage", w)
		}
	}
	if lost != st.Lost() || lost < 5 || lost > 40 {
		t.Errorf("lost %d in windows, %d by the counts; want the ~15 of a 300 ms outage", lost, st.Lost())
	}
	ost, err := other.Stop()
	if err != nil || ost.Received > ost.Transmitted || ost.Received == 0 {
		t.Errorf("the other run: %+v %v", ost, err)
	}
	// Stopped runs report as ended.
	if err := p.WaitReplies(ctx, st.Received+1); err == nil {
		t.Error("WaitReplies on a stopped ping did not fail")
	}
}

type fakeNS struct{ label, ns, addr string }

func (f fakeNS) Label() string { return f.label }
func (f fakeNS) Netns() string { return f.ns }
func (f fakeNS) Addr() string  { return f.addr }
