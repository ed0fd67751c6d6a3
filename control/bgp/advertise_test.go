package bgp_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxbgp/vxbgp/control/bgp"
	"github.com/vxbgp/vxbgp/control/bgp/bgptest"
)

func mustUnicast(t testing.TB, prefix, nexthop string) bgp.Path {
	t.Helper()
	p, err := bgp.NewUnicast(netip.MustParsePrefix(prefix), netip.MustParseAddr(nexthop))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// localTable lists our own ipv4 paths in s's Loc-RIB as "prefix via nh".
func localTable(t testing.TB, s *bgptest.Speaker) string {
	t.Helper()
	paths, err := s.ListPaths(context.Background(), bgp.FamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		pfx, up, err := bgp.DecodeUnicast(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pfx.String()+" via "+up.NextHop.String())
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// Advertise takes whole sets per owner: the speaker adds what is new,
// replaces what changed and withdraws what no owner claims any more; a
// destination two owners claim stays until both let go.
func TestAdvertiseSets(t *testing.T) {
	ctx := context.Background()
	s := newNode(t, "127.0.0.71", "10.0.0.71")
	steps := []struct {
		name  string
		owner string
		paths []bgp.Path
		want  string
	}{
		{"a adds two", "a", []bgp.Path{mustUnicast(t, "10.244.1.0/24", "192.0.2.1"), mustUnicast(t, "10.244.2.0/24", "192.0.2.1")},
			"10.244.1.0/24 via 192.0.2.1, 10.244.2.0/24 via 192.0.2.1"},
		{"b claims one of them too", "b", []bgp.Path{mustUnicast(t, "10.244.2.0/24", "192.0.2.1")},
			"10.244.1.0/24 via 192.0.2.1, 10.244.2.0/24 via 192.0.2.1"},
		{"a lets both go: b's stays", "a", nil, "10.244.2.0/24 via 192.0.2.1"},
		{"b changes its next hop: replaced", "b", []bgp.Path{mustUnicast(t, "10.244.2.0/24", "192.0.2.9")},
			"10.244.2.0/24 via 192.0.2.9"},
		{"the same set again changes nothing", "b", []bgp.Path{mustUnicast(t, "10.244.2.0/24", "192.0.2.9")},
			"10.244.2.0/24 via 192.0.2.9"},
		{"b moves to another prefix", "b", []bgp.Path{mustUnicast(t, "10.244.3.0/24", "192.0.2.9")},
			"10.244.3.0/24 via 192.0.2.9"},
		{"b lets go", "b", nil, ""},
	}
	for _, st := range steps {
		if err := s.Advertise(ctx, st.owner, st.paths); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if err := s.WaitAdvertised(ctx); err != nil {
			t.Fatal(err)
		}
		if got := localTable(t, s); got != st.want {
			t.Fatalf("%s: table %q, want %q", st.name, got, st.want)
		}
	}
	if got := s.Advertised(); len(got) != 0 {
		t.Fatalf("owners left: %v", got)
	}
}

// A peer watching us sees a changed set's new path before the old one is
// withdrawn: an endpoint whose address changes is never unreachable.
func TestAdvertiseAddsBeforeWithdrawals(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, "127.0.0.72", "10.0.0.72")
	b := newNode(t, "127.0.0.73", "10.0.0.73", netip.MustParsePrefix("10.244.0.0/16"))
	rb := bgptest.WatchUnicast(t, b.Speaker)
	bgptest.Connect(t, a, b, bgp.FamilyIPv4)
	if err := a.Advertise(ctx, "ep", []bgp.Path{mustUnicast(t, "10.244.1.5/32", "127.0.0.72")}); err != nil {
		t.Fatal(err)
	}
	rb.WaitRoutes(t, "B has the first address", "10.244.1.5/32 127.0.0.72@127.0.0.72")
	if err := a.Advertise(ctx, "ep", []bgp.Path{mustUnicast(t, "10.244.1.6/32", "127.0.0.72")}); err != nil {
		t.Fatal(err)
	}
	rb.WaitRoutes(t, "B has the new address only", "10.244.1.6/32 127.0.0.72@127.0.0.72")
	ev := rb.Dump()
	add, del := strings.Index(ev, "route 10.244.1.6/32 1"), strings.Index(ev, "route 10.244.1.5/32 0")
	if add < 0 || del < 0 || add > del {
		t.Fatalf("want the new address added before the old one is withdrawn:\n%s", ev)
	}
}

// A zero path, a destination listed twice, or a closed speaker is an
// error; the owner's previous set stands.
func TestAdvertiseRefuses(t *testing.T) {
	ctx := context.Background()
	s := newNode(t, "127.0.0.74", "10.0.0.74")
	p := mustUnicast(t, "10.244.4.0/24", "192.0.2.4")
	if err := s.Advertise(ctx, "a", []bgp.Path{p}); err != nil {
		t.Fatal(err)
	}
	if err := s.Advertise(ctx, "a", []bgp.Path{{}}); err == nil {
		t.Fatal("a zero path was taken")
	}
	if err := s.Advertise(ctx, "a", []bgp.Path{p, mustUnicast(t, "10.244.4.0/24", "192.0.2.5")}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a destination listed twice: %v", err)
	}
	if got := localTable(t, s); got != "10.244.4.0/24 via 192.0.2.4" {
		t.Fatalf("after refused sets: %q", got)
	}
	s.Close()
	if err := s.Advertise(ctx, "a", nil); err != bgp.ErrClosed {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	if err := s.WaitAdvertised(ctx); err != nil && err != bgp.ErrClosed {
		t.Fatalf("WaitAdvertised after Close: %v", err)
	}
}

// What GoBGP refuses stays pending and is offered again until it goes in:
// Advertise says so, WaitAdvertised waits for it, and a withdrawal that
// failed is retried too.
func TestAdvertiseRetries(t *testing.T) {
	ctx := context.Background()
	s := newNode(t, "127.0.0.75", "10.0.0.75")
	var mu sync.Mutex
	refuse := map[string]bool{"add 10.244.5.0/24": true}
	bgp.FailOps(s.Speaker, func(op, desc string) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse[op+" "+desc] {
			return errors.New("injected")
		}
		return nil
	})
	set := func(refused ...string) {
		mu.Lock()
		defer mu.Unlock()
		clear(refuse)
		for _, r := range refused {
			refuse[r] = true
		}
	}
	err := s.Advertise(ctx, "a", []bgp.Path{mustUnicast(t, "10.244.5.0/24", "192.0.2.5"), mustUnicast(t, "10.244.6.0/24", "192.0.2.5")})
	if err == nil || !strings.Contains(err.Error(), "10.244.5.0/24") {
		t.Fatalf("Advertise with one path refused: %v", err)
	}
	if got := localTable(t, s); got != "10.244.6.0/24 via 192.0.2.5" {
		t.Fatalf("while refused: %q", got)
	}
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.WaitAdvertised(wctx); err == nil {
		t.Fatal("WaitAdvertised returned while a path was pending")
	}
	set()
	wctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.WaitAdvertised(wctx); err != nil {
		t.Fatalf("the retry did not put the path in: %v", err)
	}
	if got := localTable(t, s); got != "10.244.5.0/24 via 192.0.2.5, 10.244.6.0/24 via 192.0.2.5" {
		t.Fatalf("after the retry: %q", got)
	}

	set("delete 10.244.6.0/24")
	if err := s.Advertise(ctx, "a", []bgp.Path{mustUnicast(t, "10.244.5.0/24", "192.0.2.5")}); err == nil {
		t.Fatal("a refused withdrawal went unreported")
	}
	set()
	if err := s.WaitAdvertised(wctx); err != nil {
		t.Fatalf("the withdrawal was not retried: %v", err)
	}
	if got := localTable(t, s); got != "10.244.5.0/24 via 192.0.2.5" {
		t.Fatalf("after the withdrawal's retry: %q", got)
	}
}
